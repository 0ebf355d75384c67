"""Kaldi data directories: `wav.scp`, `text`, optional `segments`, `utt2spk`, `utt2dur`.

    wav.scp    <recording-id> <path>           (piped commands "cmd |" and archive offsets
                                                "file.ark:N" are refused: name the file)
    segments   <utt-id> <recording-id> <start-s> <end-s>   (end -1: to the end of the file;
               a 5th field, the channel, is accepted only as 0 of a one-channel recording)
    text       <utt-id> <transcript>
    utt2spk    <utt-id> <speaker>
Fields are split on ASCII whitespace only, as Kaldi's: a no-break space (U+00A0), U+3000 and
other non-ASCII spaces belong to the field they are in. Without `segments`, each wav.scp id is an
utterance id. A `text` line whose utterance has no
audio (in neither `segments` nor `wav.scp`) is an item with a problem naming the line. Kaldi
resolves relative paths from the recipe folder; here the data dir, its parent, its grandparent and
the current directory are tried in that order (the first where the file exists), or only
`audio_root` when given. No command is ever run: a piped entry is refused by name.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

from speechbudget.datasets.base import DatasetError, FileDataset, Record, text_lines
from speechbudget.typed_numbers import PLAIN_NUMBER, is_digits


def is_kaldi_dir(folder: Path) -> bool:
    return (folder / "wav.scp").is_file()


# Kaldi splits table lines on ASCII whitespace only (SplitStringOnFirstSpace,
# SplitStringToVector): a no-break space (U+00A0), U+3000, U+2009... is part of a field
_ASCII_SPACE = " \t\n\r\f\v"
_ASCII_SPACES = re.compile(r"[ \t\n\r\f\v]+")


def _fields(line: str, maxsplit: int = 0) -> list[str]:
    """`line`'s fields as Kaldi reads them: split on runs of ASCII whitespace (at most `maxsplit`
    times; 0: every run), ASCII whitespace at either end dropped (also the last field's)."""
    line = line.strip(_ASCII_SPACE)
    return _ASCII_SPACES.split(line, maxsplit=maxsplit) if line else []


def _table(path: Path, min_fields: int = 2, empty_ok: bool = False,
           lines: dict[str, int] | None = None) -> dict[str, list[str]]:
    """id -> its other fields, per non-blank line; `empty_ok`: an id alone has one empty field
    (a transcript with no words), else it is an error naming the line. `lines` (when given)
    gets id -> line number."""
    out: dict[str, list[str]] = {}
    for n, line in enumerate(text_lines(path), 1):
        if not line.strip(_ASCII_SPACE):
            continue
        parts = _fields(line, maxsplit=1 if min_fields == 2 else 0)
        if len(parts) < min_fields:
            if empty_ok and min_fields == 2 and len(parts) == 1:  # an empty transcript
                parts = [parts[0], ""]
            else:
                raise DatasetError(f"{path}:{n}: expected {min_fields} fields, got "
                                   f"{len(parts)}: {line.strip(_ASCII_SPACE)!r}")
        if parts[0] in out:
            raise DatasetError(f"{path}:{n}: id {parts[0]!r} appears twice")
        out[parts[0]] = parts[1:]
        if lines is not None:
            lines[parts[0]] = n
    return out


def _resolve(folder: Path, value: str, where: str, audio_root: Path | None = None) -> Path:
    v = value.strip(_ASCII_SPACE)
    if v.endswith("|"):
        raise DatasetError(f"{where}: piped wav.scp commands are not supported ({v!r}); "
                           "write the audio to files (e.g. with wav-copy) and list the paths")
    p = Path(v)
    bases = [Path("/")] if p.is_absolute() else [audio_root] if audio_root is not None else [
        folder, folder.parent, folder.parent.parent, Path.cwd()]
    for base in bases:
        if (base / p).exists():
            return base / p
    ark = re.fullmatch(r"(.+):[0-9]+(\[[^\]]*\])?", v)  # Kaldi's "file.ark:OFFSET[range]"
    if ark and any((base / ark.group(1)).is_file() for base in bases):
        raise DatasetError(f"{where}: archive offsets are not supported ({v!r}); write the "
                           "audio to files (e.g. with wav-copy) and list the paths")
    return p if p.is_absolute() else bases[0] / p


def load_kaldi(folder: str | Path, need_text: bool = True,
               audio_root: str | Path | None = None) -> FileDataset:
    """`audio_root`: where wav.scp's relative paths are (instead of the folders tried)."""
    folder = Path(folder)
    root = None if audio_root is None else Path(audio_root)
    scp = folder / "wav.scp"
    if not scp.is_file():
        raise DatasetError(f"{folder}: not a Kaldi data dir (no wav.scp)")
    wavs = {}
    for k, v in _table(scp, empty_ok=True).items():
        if not v[0].strip(_ASCII_SPACE):
            raise DatasetError(f"{scp}: recording {k!r} has no path (expected '<id> <path>')")
        wavs[k] = _resolve(folder, v[0], f"{scp}: {k}", root)
    text_path = folder / "text"
    if need_text and not text_path.is_file():
        raise DatasetError(f"{folder}: Kaldi data dir without a 'text' file (transcripts)")
    text_lines_of: dict[str, int] = {}
    texts = {k: v[0] for k, v in _table(text_path, empty_ok=True, lines=text_lines_of).items()} \
        if text_path.is_file() else {}
    spk = {k: v[0] for k, v in _table(folder / "utt2spk").items()} \
        if (folder / "utt2spk").is_file() else {}
    records = []
    seg_path = folder / "segments"
    if seg_path.is_file():
        seg_lines: dict[str, int] = {}
        for utt, (rec, start, end, *rest) in _table(seg_path, min_fields=4,
                                                     lines=seg_lines).items():
            if rec not in wavs:
                raise DatasetError(f"{seg_path}: segment {utt!r} names recording {rec!r}, "
                                   f"which is not in {scp}")
            if rest:
                _check_channel(seg_path, seg_lines[utt], utt, rest, wavs[rec])
            for which, value in (("start", start), ("end", end)):
                _check_seconds(seg_path, seg_lines[utt], utt, which, value)
            a, b = float(start), float(end)
            if not (math.isfinite(a) and math.isfinite(b)):
                raise DatasetError(f"{seg_path}: segment {utt!r}: start/end {start!r} {end!r} "
                                   "must be finite seconds")
            if b < 0 and b != -1:  # as Kaldi's extract-segments: only -1 means "to the end"
                raise DatasetError(f"{seg_path}: segment {utt!r}: end {end!r} is negative; "
                                   "only -1 (to the end of the recording) may be")
            if a < 0 or (b >= 0 and b <= a):
                raise DatasetError(f"{seg_path}: segment {utt!r}: {a:g}-{b:g} s is empty")
            records.append(_record(utt, wavs[rec], texts, spk, need_text, text_path,
                                   a, None if b < 0 else b))
    else:
        for utt, path in wavs.items():
            records.append(_record(utt, path, texts, spk, need_text, text_path, None, None))
    listed = {r.id for r in records}
    for utt in sorted(texts.keys() - listed, key=text_lines_of.__getitem__):  # reported, not dropped
        records.append(Record(id=utt, text=texts[utt], speaker=spk.get(utt), problem=(
            f"{text_path}:{text_lines_of[utt]}: utterance {utt!r} has no audio (not in "
            f"{seg_path if seg_path.is_file() else scp})")))
    if not records:
        raise DatasetError(f"{folder}: the Kaldi data dir lists no utterances")
    return FileDataset(records, str(folder))


def _check_seconds(seg_path: Path, line: int, utt: str, which: str, value: str) -> None:
    """A segments line's start or end as Kaldi writes it: ASCII digits, an optional sign, point
    and exponent (float() also took '1_0' as 10 and other scripts' digits, '\u0661' as 1), or a
    non-finite word (nan, inf: refused later as not finite seconds); a DatasetError naming the
    file, line and value otherwise."""
    if PLAIN_NUMBER.fullmatch(value) or value.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        return
    raise DatasetError(f"segment {utt!r}: {which} {value!r} is not a number of seconds (digits "
                       "0-9, an optional sign, decimal point and exponent)", seg_path, line)


def _check_channel(seg_path: Path, line: int, utt: str, rest: list[str], path: Path) -> None:
    """A segments line's 5th field, the channel: only channel 0 of a one-channel recording can be
    read as meant (recordings are read down-mixed to mono, the mean of their channels)."""
    import soundfile as sf

    from speechbudget.audio import soundfile_name
    channel = rest[0]
    if len(rest) > 1 or not is_digits(channel):  # ASCII digits: int() refuses '\u00b2'
        raise DatasetError(f"segment {utt!r}: expected 4 fields and an optional channel number, "
                           f"got {' '.join(rest)!r} after the times (a channel is digits 0-9)",
                           seg_path, line)
    try:
        channels = sf.info(soundfile_name(path)).channels
    except Exception:  # noqa: BLE001 (not readable here: the channel cannot be checked)
        channels = None
    if channels != 1 or int(channel) != 0:
        raise DatasetError(f"segment {utt!r} selects channel {channel} of {path} "
                           f"({'unknown' if channels is None else channels} channels); selecting "
                           "a channel is not supported (recordings are read as the mean of "
                           "their channels): write each channel to its own file", seg_path, line)


def _record(utt, path, texts, spk, need_text, text_path, a, b) -> Record:
    text = texts.get(utt)
    problem = None
    if need_text and text is None:  # no line in `text`; an id alone there is "", scored
        problem = f"{text_path}: no transcript for {utt}"
    return Record(id=utt, path=path, start_s=a, end_s=b, text=text or "",
                  speaker=spk.get(utt), duration_s=None if a is None or b is None else b - a,
                  problem=problem)
