"""JSONL, CSV and TSV manifests: one row per item, columns mapped by name (`Columns`).

Audio paths are relative to `audio_root` (default: the manifest's folder; for a Common Voice
TSV, columns client_id, path and sentence beside a `clips/` folder, that folder) unless absolute;
Windows separators in a relative path are read as such (`audio_file`).
A row without audio or (when required) text gets a `problem`; a missing *column* is a
DatasetError that names the file and the column.

CSV is read with CSV quoting ("a, b" is one field; an unclosed quote is an error naming the row);
its delimiter is the comma, or the semicolon when the header has semicolons and no comma (a
spreadsheet's CSV in a locale whose decimal mark is the comma).
Tab-separated files are plain: split at tabs, a quote is just a character (as Common Voice and
most speech corpora write them, and as their readers split them), so a field holds no tab or
newline.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path, PureWindowsPath
from typing import Any

from speechbudget.datasets.base import (Columns, DatasetError, FileDataset, Record, pick_column,
                                        text_lines)
from speechbudget.typed_numbers import plain_number

#: how to name a role's column, in a missing column's hint: the command-line option and a sweep
#: file's `data:` key (sweep.spec_data), as the same reader serves both
OPTIONS = {role: f"--{role}-column or, in a sweep file, data.{role}_column"
           for role in ("audio", "text", "label", "speaker", "id")}


def _rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """(column names, (line number, row) pairs) of a .jsonl/.json, .csv or .tsv file."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        rows, cols = [], {}
        # lines decoded by text_lines: UTF-8, BOM accepted, the bad line named
        for n, line in enumerate(text_lines(path), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DatasetError(f"{path}:{n}: not valid JSON ({e.msg}); a manifest holds "
                                   "one JSON object per line (JSON Lines)") from None
            except RecursionError:
                raise DatasetError(f"{path}:{n}: JSON nested too deeply to read") from None
            if not isinstance(row, dict):
                raise DatasetError(f"{path}:{n}: expected a JSON object, got "
                                   f"{type(row).__name__}")
            cols.update(dict.fromkeys(row))
            rows.append((n, row))
        return list(cols), rows
    if suffix in (".csv", ".tsv", ".txt"):
        import io
        text = "\n".join(text_lines(path)) + "\n"
        limit = csv.field_size_limit()  # 128 KiB by default: a long-form transcript is longer
        with io.StringIO(text, newline="") as f:
            sample = f.read(4096)
            f.seek(0)
            header_line = next((line for line in sample.splitlines() if line.strip()), "")
            # tabs, or semicolons in the header and no comma (a spreadsheet's CSV where the
            # comma is the decimal mark): the header came out as one column named 'audio;text'
            delim = "\t" if suffix == ".tsv" or ("\t" in sample and "," not in sample) else \
                ";" if ";" in header_line and "," not in header_line else ","
            # strict: an unterminated quote is an error, not the rest of the file in one field;
            # tab-separated: no quoting ('"Yes," she said' was an error, or took rows with it)
            reader = csv.reader(f, delimiter=delim, strict=True,
                                quoting=csv.QUOTE_NONE if delim == "\t" else csv.QUOTE_MINIMAL)
            header: list[str] | None = None
            rows, start = [], 1
            csv.field_size_limit(max(limit, len(text)))
            try:
                for fields in reader:
                    n, start = start, reader.line_num + 1  # the row's first line (quoted newlines)
                    if not any(v.strip() for v in fields):  # a blank line or only blank fields
                        continue
                    if header is None:
                        header = [c.strip() for c in fields]
                        continue
                    row: dict[str | None, Any] = dict(zip(header, fields))  # as csv.DictReader:
                    if len(fields) > len(header):  # extra fields under None, missing ones None
                        row[None] = fields[len(header):]
                    for name in header[len(fields):]:
                        row.setdefault(name, None)
                    rows.append((n, row))
            except csv.Error as e:  # the row that starts on line `start`
                hint = "; a quoted field that starts in this row is never closed" \
                    if "end of data" in str(e) else ""
                raise DatasetError(f"not valid CSV ({e}{hint})", path, start) from None
            finally:
                csv.field_size_limit(limit)
            if header is None:
                raise DatasetError(f"{path}: no header row")
            return header, rows
    raise DatasetError(f"{path}: expected a .jsonl, .csv or .tsv manifest")


def audio_file(value: str, root: Path) -> Path:
    """A manifest's audio path: absolute, or relative to `root`. A relative path written with
    Windows separators (`clips\\a.wav`, a manifest made on Windows), which names no file here
    as written, is read with them as separators when that file exists."""
    p = Path(value)
    path = p if p.is_absolute() else root / p
    if "\\" in value and not path.exists():
        win = PureWindowsPath(value)
        if not win.anchor and root.joinpath(*win.parts).exists():  # no drive, no leading '\\'
            return root.joinpath(*win.parts)
    return path


def load_table(path: str | Path, columns: Columns = Columns(), audio_root: str | Path | None
               = None, need: tuple[str, ...] = ("text",)) -> FileDataset:
    """A manifest as records. `need`: roles that must have a column (ASR: text; SER: label,
    speaker)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such manifest")
    names, rows = _rows(path)
    root = Path(audio_root) if audio_root is not None else path.parent
    if audio_root is None and {"client_id", "path", "sentence"} <= set(names) \
            and (path.parent / "clips").is_dir():  # Common Voice: <lang>/test.tsv, <lang>/clips/
        root = path.parent / "clips"
    return table_records(path, names, rows, root, columns, need)


def table_records(path: Path, names: list[str], rows: list[tuple[int, dict[str, Any]]],
                  root: Path, columns: Columns = Columns(), need: tuple[str, ...] = ("text",)
                  ) -> FileDataset:
    """Records from a table's (line number, row) pairs; audio paths relative to `root`."""
    if not rows:
        raise DatasetError(f"{path}: the manifest holds no items")
    where = str(path)
    col = {role: pick_column(names, role, getattr(columns, role, None), where,
                             required=role in ("audio", *need), option=OPTIONS.get(role))
           for role in ("audio", "text", "label", "speaker", "id")}
    col["duration_s"] = pick_column(names, "duration_s", None, where, required=False)
    for role, name in col.items():  # csv keeps the last of two same-named columns: ambiguous
        if name is not None and names.count(name) > 1:
            raise DatasetError(f"{path}: the header names the column {name!r} (the {role}) "
                               f"{names.count(name)} times")
    records = []
    first_line: dict[str, int] = {}
    for n, row in rows:
        audio = row.get(col["audio"])
        # a Hugging Face audio cell, as Dataset.to_json writes it: {"bytes": null, "path": ...}
        if isinstance(audio, dict) and isinstance(audio.get("path"), str) \
                and not audio.get("bytes"):
            audio = audio["path"]
        problem = None
        extra_fields = [v for v in row.get(None) or () if v.strip()]  # CSV: more than the header
        if extra_fields:
            problem = (f"{path}:{n}: {len(names) + len(row[None])} fields, the header has "
                       f"{len(names)} (extra: {', '.join(map(repr, extra_fields[:3]))}); quote a "
                       "field that holds the delimiter")
        if audio is not None and not isinstance(audio, str):  # a JSON number, list, object
            problem = problem or (f"{path}:{n}: audio {col['audio']!r} is a JSON "
                                  f"{type(audio).__name__}, expected a file path: "
                                  f"{json.dumps(audio)[:80]}")
            audio, audio_path = None, None
        elif audio is None or not audio.strip():
            problem = problem or f"{path}:{n}: no audio path in column {col['audio']!r}"
            audio_path = None
        else:
            audio_path = audio_file(audio.strip(), root)
        text = row.get(col["text"]) if col["text"] else None
        if isinstance(text, (int, float)) and not isinstance(text, bool) and math.isfinite(text):
            text = str(text)  # a JSON number: a transcript of digits ("text": 7)
        if text is not None and not isinstance(text, str):
            if "text" in need:
                problem = problem or (f"{path}:{n}: transcript {col['text']!r} is a JSON "
                                      f"{type(text).__name__}, expected a string: "
                                      f"{json.dumps(text)}")
            text = "" if "text" in need else None
        elif "text" in need and text is None:  # no such key, JSON null, a short CSV row
            problem = problem or f"{path}:{n}: missing transcript {col['text']!r}"
            text = ""
        elif "text" in need and not text.strip():  # present and empty: no speech, scored
            text = ""
        raw = row.get(col["duration_s"]) if col["duration_s"] else None
        dur = None
        if raw not in (None, ""):
            try:  # a string as typed (float() took '1_0' as 10 and other scripts' digits)
                dur = math.nan if isinstance(raw, bool) else plain_number(raw) \
                    if isinstance(raw, str) else float(raw)
            except (TypeError, ValueError):
                dur = math.nan
            if not 0 <= dur < math.inf:  # not a number, NaN, infinite, negative or a boolean
                raise DatasetError(f"{path}:{n}: {col['duration_s']}={raw!r} is not a number "
                                   "of seconds >= 0")
        rid = row.get(col["id"]) if col["id"] else None
        rid = str(rid if rid not in (None, "") else audio or f"line{n}")
        if rid in first_line:  # named here with both lines, not later with neither
            raise DatasetError(f"item id {rid!r} is also on line {first_line[rid]}", path, n)
        first_line[rid] = n
        get = lambda role: None if not col[role] or row.get(col[role]) in (None, "") \
            else str(row[col[role]])  # noqa: E731
        used = {c for c in col.values() if c}
        records.append(Record(
            id=rid, path=audio_path,
            text=text, label=get("label"), speaker=get("speaker"), duration_s=dur, problem=problem,
            extra={k: v for k, v in row.items() if k not in used}))
    return FileDataset(records, where)
