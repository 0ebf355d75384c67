"""The one shape every data adapter produces: `Record`s plus a way to read each one's audio.

A `Dataset` (the protocol) has a `source` (what it was opened from, for messages), a list of
`records`, and `read_audio(record)` -> float32 mono 16 kHz. A record points at its audio either by
file (`path`, optionally cut to `start_s`..`end_s`, as a Kaldi `segments` line does) or by row
(`index` into an in-memory table such as a Hugging Face dataset). Tasks turn records into their
own items (ASR: text; SER: label and speaker).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from speechbudget.errors import DatasetError  # noqa: F401 (one DatasetError for every adapter)
from speechbudget.geometry import SAMPLE_RATE

MAX_OVERSHOOT_S = 0.5  # Kaldi extract-segments' --max-overshoot default


UTF16_32_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
                 (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def _as_utf8(data: bytes, path: Path) -> bytes:
    """UTF-16 / UTF-32 text with its byte-order mark (Windows' 'Unicode', Excel's 'Unicode Text')
    as UTF-8; anything else as it is."""
    for bom, codec in UTF16_32_BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec).encode("utf-8")
            except UnicodeError as e:
                raise DatasetError(f"{path}: starts with a {codec.upper()} byte-order mark but is "
                                   f"not valid {codec.upper()} text ({e.reason} at byte "
                                   f"{getattr(e, 'start', '?')})") from None
    return data


def text_lines(path: Path) -> list[str]:
    """The file's lines as UTF-8 (a leading byte-order mark is accepted, '\\r' dropped; UTF-16
    or UTF-32 with a byte-order mark is read as such); a DatasetError naming the file, line and
    byte otherwise."""
    out = []
    for n, raw in enumerate(_as_utf8(Path(path).read_bytes(), path).split(b"\n"), 1):
        try:
            out.append(raw.decode("utf-8-sig" if n == 1 else "utf-8").rstrip("\r"))
        except UnicodeDecodeError as e:
            raise DatasetError(f"not UTF-8 text (byte {e.start} of the line: "
                               f"{raw[e.start:e.start + 1]!r})", path, n) from None
    if out and out[-1] == "":
        out.pop()
    return out


@dataclass(frozen=True)
class Columns:
    """Which column (or JSON key) holds what; None = the adapter's usual names."""

    audio: str | None = None
    text: str | None = None
    label: str | None = None
    speaker: str | None = None
    id: str | None = None

    def given(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v is not None}


# names tried, in order, when a column is not given explicitly
DEFAULT_NAMES = {
    "audio": ("audio", "audio_path", "audio_filepath", "path", "file_name", "filename", "file",
              "wav"),  # audio_filepath: NeMo manifests
    "text": ("text", "transcript", "transcription", "sentence", "normalized_text"),
    "label": ("label", "emotion"),
    "speaker": ("speaker", "speaker_id", "spk", "actor", "client_id"),
    "id": ("id", "utt_id", "utterance_id", "key"),
    "duration_s": ("duration_s", "duration"),
}


@dataclass(frozen=True)
class Record:
    id: str
    path: Path | None = None          # audio file
    start_s: float | None = None      # cut of the file (Kaldi segments)
    end_s: float | None = None
    index: int | None = None          # row of an in-memory table (HF dataset)
    text: str | None = None
    label: str | None = None
    speaker: str | None = None
    duration_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    problem: str | None = None        # why this record cannot be used (reported, not raised)


class Dataset(Protocol):
    source: str
    records: list[Record]

    def read_audio(self, record: Record) -> np.ndarray:
        """The record's waveform, float32 mono 16 kHz; raises AudioError naming the file."""


def pick_column(columns: Sequence[str], role: str, explicit: str | None, where: str,
                required: bool = True, option: str | None = None) -> str | None:
    """The column for `role`: the explicit name (must exist) or the first usual name present."""
    hint = f" (choose one with {option})" if option else ""
    if explicit is not None:
        if explicit not in columns:
            raise DatasetError(f"{where}: no column {explicit!r} for the {role}; columns are "
                               f"{', '.join(map(repr, columns)) or 'none'}")
        return explicit
    for name in DEFAULT_NAMES[role]:
        if name in columns:
            return name
    if required:
        raise DatasetError(f"{where}: no {role} column (looked for "
                           f"{', '.join(DEFAULT_NAMES[role])}); columns are "
                           f"{', '.join(map(repr, columns)) or 'none'}{hint}")
    return None


def to_16k_mono(data: np.ndarray, sr: int, where: str, channels_last: bool | None = None
                ) -> np.ndarray:
    """float32 mono 16 kHz from samples at `sr` (integer PCM scaled to [-1, 1), channels
    averaged). A 2-D array is [samples, channels] when `channels_last` (soundfile's layout),
    [channels, samples] when False; None (an in-memory array of unknown layout): the axis of at
    most 8 is the channels. 64-bit integers are no PCM format: they are what Python lists of
    ints become (a Hugging Face column of int16 samples written without its type), so their
    width is the smallest of 16 or 32 bits that holds the peak (`pcm_width`), a guess said in a
    PcmWidthGuessWarning naming `where` (a caller that narrows them itself says it once per
    dataset: hf.HfDataset)."""
    from speechbudget.audio import check_samples, check_sample_rate, resample_to_16k
    data = np.asarray(data)
    if data.dtype.kind in "iu" and data.dtype.itemsize == 8:
        kind = pcm_width(data, where)
        import warnings
        warnings.warn(PcmWidthGuessWarning(
            f"{where}: {pcm_width_guess(kind, data, 'give the samples their PCM type')}"),
            stacklevel=2)
        data = data.astype(kind)
    if data.dtype.kind in "iu":  # integer PCM -> [-1, 1) as soundfile and Whisper read it
        info = np.iinfo(data.dtype)
        mid = (int(info.max) + 1) // 2 if data.dtype.kind == "u" else 0  # unsigned: offset
        data = (data.astype(np.float64) - mid) / (int(info.max) + 1 - mid)
    data = np.asarray(data, dtype=np.float32)
    if data.ndim > 1:  # [samples, channels] (soundfile) or [channels, samples]
        last = data.shape[-1] <= 8 if channels_last is None else channels_last
        data = data.mean(axis=1 if last else 0, dtype=np.float32)
    check_samples(data, where)  # as load_audio: NaN, inf or overflowing samples
    check_sample_rate(sr, where)  # as load_audio: below 1000 Hz is no recording
    return resample_to_16k(data, sr)


def pcm_width(data: np.ndarray, where: str) -> str:
    """The PCM type of 64-bit integer samples: int16 when every sample fits 16-bit PCM (unsigned:
    uint16), else int32 (uint32); wider is an AudioError naming `where` (no audio format has
    it: a column of something else)."""
    from speechbudget.audio import AudioError
    lo, hi = (int(data.min()), int(data.max())) if data.size else (0, 0)
    for bits in (16, 32):
        kind = f"{'u' if data.dtype.kind == 'u' else ''}int{bits}"
        info = np.iinfo(kind)
        if info.min <= lo and hi <= info.max:
            return kind
    raise AudioError(f"{where}: 64-bit integer samples from {lo} to {hi} are no PCM audio "
                     "(16 or 32 bits): cast the column to float32 in [-1, 1] or to its PCM type")


class PcmWidthGuessWarning(UserWarning):
    """Integer samples with no declared width (64-bit: Python ints, a column written without its
    type) read as the PCM width their values fit (`pcm_width`): a guess, as no header says it; a
    quiet 32-bit recording whose values fit 16 bits is read 96 dB too loud."""


def pcm_width_guess(kind: str, data: np.ndarray, declare: str) -> str:
    """What `pcm_width` chose for `data` (`kind`) and why, for a PcmWidthGuessWarning; `declare`:
    how to give the samples their type ('declare the column's dtype')."""
    info = np.iinfo(kind)
    u = "u" if kind.startswith("u") else ""
    lo, hi = (int(data.min()), int(data.max())) if data.size else (0, 0)
    what = f"integer samples with no declared PCM width ({data.dtype})"
    if info.bits == 16:
        return (f"{what}: read as 16-bit PCM because every value fits in {kind} ({lo} to {hi}); "
                f"{declare} ({u}int32) if it is 32-bit")
    return (f"{what}: read as 32-bit PCM because values from {lo} to {hi} do not fit in "
            f"{u}int16; {declare} ({kind}) to read them so without this warning (24-bit "
            "samples: scale them to float32 in [-1, 1])")


def read_file(path: Path, start_s: float | None = None, end_s: float | None = None) -> np.ndarray:
    """A file's audio as float32 mono 16 kHz, cut to [start_s, end_s) seconds when given (the cut
    is made at the file's own rate, then resampled, as Kaldi's extract-segments does). As there,
    a segment ending up to MAX_OVERSHOOT_S past the recording is cut at its end; one ending later,
    or starting after the end, is an AudioError naming the segment. A WAV whose header was never
    finished (`audio.unfinished_wav`: its sizes say 0 bytes, audio follows) is cut from what
    `load_audio` reads of it (at 16 kHz, with its UnfinishedWavWarning naming the file), not from
    the empty recording its header describes."""
    from speechbudget.audio import (AudioError, check_audio_file, load_audio, soundfile_name,
                                    unfinished_wav)
    if start_s is None and end_s is None:
        return load_audio(path)
    import soundfile as sf
    where = f"{path} [{start_s or 0:g}-{'end' if end_s is None else f'{end_s:g}'} s]"
    check_audio_file(Path(path), stacklevel=3)

    def check(total: int, rate: int, note: str = "") -> tuple[int, int | None]:
        a = int(round((start_s or 0.0) * rate))
        b = None if end_s is None else int(round(end_s * rate))
        if a >= total and (a or total):  # a segment of an empty recording from 0 is empty
            raise AudioError(f"{where}: the segment starts after the end of the recording "
                             f"({total / rate:.2f} s{note})")
        if b is not None and b - total >= MAX_OVERSHOOT_S * rate:
            raise AudioError(f"{where}: the segment ends {(b - total) / rate:.2f} s after the end "
                             f"of the recording ({total / rate:.2f} s); {MAX_OVERSHOOT_S:g} s or "
                             f"more is refused, as Kaldi's extract-segments does{note}")
        return a, b
    if unfinished_wav(Path(path)) is not None:  # soundfile: 0 frames; load_audio reads them
        full = load_audio(path)
        a, b = check(len(full), SAMPLE_RATE)
        return np.ascontiguousarray(full[a:b])
    try:
        info = sf.info(soundfile_name(path))
        a, b = check(int(info.frames), int(info.samplerate))
        data, sr = sf.read(soundfile_name(path), start=a, stop=b, dtype="float32",
                           always_2d=True)
    except AudioError:
        raise
    except Exception as e:  # noqa: BLE001 (soundfile cannot seek it: decode all, then cut)
        full = load_audio(path)
        a, b = check(len(full), SAMPLE_RATE, f"; {e}")
        return np.ascontiguousarray(full[a:b])
    return to_16k_mono(data, sr, where, channels_last=True)


def decode_cell(cell: Any, where: str, root: Path | None = None) -> np.ndarray:
    """Audio from a table cell: {"array", "sampling_rate"} (decoded), {"bytes", "path"} (HF
    `Audio(decode=False)`, decoded here with soundfile/librosa), or a path string."""
    from speechbudget.audio import AudioError, load_audio
    if isinstance(cell, str):
        p = Path(cell)
        return load_audio(p if p.is_absolute() or root is None else root / p)
    if isinstance(cell, dict):
        if cell.get("array") is not None:
            return to_16k_mono(np.asarray(cell["array"]), int(cell.get("sampling_rate") or 0),
                               where)
        if cell.get("bytes"):
            import soundfile as sf
            try:
                data, sr = sf.read(io.BytesIO(cell["bytes"]), dtype="float32", always_2d=True)
            except Exception as sf_error:  # noqa: BLE001 (soundfile cannot decode it: librosa)
                import librosa
                try:
                    data, sr = librosa.load(io.BytesIO(cell["bytes"]), sr=None, mono=True)
                except Exception as e:  # noqa: BLE001
                    raise AudioError(f"{where}: audio bytes not decodable (soundfile: "
                                     f"{sf_error}; librosa: {e})") from None
            return to_16k_mono(data, int(sr), where, channels_last=data.ndim > 1)
        if cell.get("path"):
            return decode_cell(str(cell["path"]), where, root)
    raise AudioError(f"{where}: no audio in the cell (expected a path, "
                     f"{{'bytes', 'path'}} or {{'array', 'sampling_rate'}}, got "
                     f"{type(cell).__name__})")


class FileDataset:
    """Records whose audio lies in files (manifests, Kaldi dirs, LibriSpeech trees)."""

    def __init__(self, records: list[Record], source: str):
        self.records = records
        self.source = source

    def read_audio(self, record: Record) -> np.ndarray:
        from speechbudget.audio import AudioError
        if record.path is None:
            raise AudioError(f"{self.source}: {record.id} has no audio")
        return read_file(record.path, record.start_s, record.end_s)

    def __len__(self) -> int:
        return len(self.records)
