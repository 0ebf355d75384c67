"""LJSpeech's layout: `metadata.csv` beside a `wavs/` folder, one `ID|TRANSCRIPTION|NORMALIZED`
line per clip (no header; `wavs/ID.wav`).

The fields are split at `|` as LJSpeech's own readers do (no CSV quoting: its transcripts hold
quotes and commas). They are the columns `id`, `text` (the transcription, as written: the default)
and `normalized_text` (numbers, abbreviations and units spelled out: `--text-column
normalized_text`), Hugging Face's `lj_speech` names. Files in the same shape with two fields
(`ID|TEXT`, many TTS corpora) are read too; a first field that is a file name (`wavs/x.wav`, one
with an audio suffix or a `/`) is that file, relative to the metadata's folder.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from speechbudget.datasets.base import (DEFAULT_NAMES, Columns, DatasetError, FileDataset,
                                        text_lines)

NAMES = ["id", "text", "normalized_text"]
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg")
HEADER_WORDS = {n for names in DEFAULT_NAMES.values() for n in names}


def _first_line(path: Path) -> str | None:
    try:
        return next((line for line in text_lines(path) if line.strip()), None)
    except (DatasetError, OSError):  # not UTF-8 / unreadable: the CSV reader names why
        return None


def is_ljspeech(path: Path) -> bool:
    """A .csv whose first line is `ID|TEXT[|NORMALIZED]` (no header, no tab)."""
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    line = _first_line(path)
    if line is None or "|" not in line or "\t" in line:
        return False
    fields = line.split("|")
    first = fields[0].strip()
    return 2 <= len(fields) <= 3 and bool(first) and first.lower() not in HEADER_WORDS


def _is_file_name(field: str) -> bool:
    return "/" in field or Path(field).suffix.lower() in AUDIO_SUFFIXES


def load_ljspeech(path: str | Path, columns: Columns = Columns(),
                  audio_root: str | Path | None = None, need: tuple[str, ...] = ("text",)
                  ) -> FileDataset:
    """`metadata.csv` (or the folder holding it) as records. Audio: `<audio_root or
    wavs/>/ID.wav`; a first field that is a file name, relative to `audio_root` or the
    metadata's folder."""
    from speechbudget.datasets.manifest import table_records
    path = Path(path)
    if path.is_dir():
        path = path / "metadata.csv"
    if not path.is_file():
        raise DatasetError(f"{path}: no such LJSpeech metadata file")
    given = columns.given()
    for role in ("audio", "label", "speaker"):
        if role in given:
            raise DatasetError(f"{path}: an LJSpeech metadata file has the columns "
                               f"{', '.join(NAMES)} (no header); no {role} column "
                               f"{given[role]!r} to choose")
    root = Path(audio_root) if audio_root is not None else path.parent
    wavs = "" if audio_root is not None else "wavs/"
    rows: list[tuple[int, dict[str, Any]]] = []
    too_many: dict[int, int] = {}
    for n, line in enumerate(text_lines(path), 1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) > len(NAMES):
            too_many[n] = len(fields)
        first = fields[0].strip()
        audio = first if _is_file_name(first) else f"{wavs}{first}.wav"  # relative to root
        row: dict[str, Any] = {"id": first or f"line{n}", "audio": audio if first else None}
        row.update(zip(NAMES[1:], fields[1:]))
        rows.append((n, row))
    ds = table_records(path, NAMES + ["audio"], rows, root, columns, need)
    for k, (n, _) in enumerate(rows):
        if n in too_many:
            ds.records[k] = replace(ds.records[k], problem=ds.records[k].problem or (
                f"{path}:{n}: {too_many[n]} fields separated by '|', expected at most "
                f"{len(NAMES)} (ID|TRANSCRIPTION|NORMALIZED TRANSCRIPTION)"))
    return ds
