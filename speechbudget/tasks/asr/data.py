"""ASR datasets: a JSONL manifest, a LibriSpeech folder in its original layout, or a HF dataset.

    load_dataset("data/librispeech_sample")                  # folder holding manifest.jsonl
    load_dataset("my/manifest.jsonl")                         # {"audio": "rel/path.flac", "text": ...}
    load_dataset("/corpora/LibriSpeech/test-clean")           # speaker/chapter/*.flac + *.trans.txt
    load_dataset("hf:openslr/librispeech_asr:clean:test")     # HF datasets (network), name:config:split

Manifest lines: `audio` (path relative to the manifest, or absolute), `text`, optional `id`,
`duration_s`, `speaker`. A line that is not JSON or not an object is an error naming file and line.
Item-level problems (no `audio`, empty or missing transcript) do not stop loading: the item keeps a
`problem` and the runner reports it as a failed ItemResult (as it does for unreadable audio).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


from speechbudget.errors import DatasetError  # noqa: E402 (one DatasetError for ASR and SER)


@dataclass(frozen=True)
class AsrItem:
    id: str
    audio: Path | None           # file path, or None for in-memory (HF) audio
    text: str
    duration_s: float | None = None
    speaker: str | None = None
    index: int | None = None     # row in a HF dataset
    problem: str | None = None   # why this item cannot be evaluated (reported, not raised)


@dataclass
class AsrDataset:
    items: list[AsrItem]
    source: str
    hf: Any = field(default=None, repr=False)  # the HF dataset for in-memory audio

    def __post_init__(self) -> None:
        self._by_id = {it.id: it for it in self.items}
        if len(self._by_id) != len(self.items):
            seen: set[str] = set()
            dup = next(it.id for it in self.items if it.id in seen or seen.add(it.id))
            raise DatasetError(f"{self.source}: duplicate item id {dup!r}")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, item_id: str) -> AsrItem:
        return self._by_id[item_id]

    def load_audio(self, item: AsrItem) -> np.ndarray:
        """The item's waveform, float32 mono 16 kHz; raises AudioError (names the file) if bad."""
        from speechbudget.audio import SAMPLE_RATE, AudioError, load_audio
        if item.audio is not None:
            return load_audio(item.audio)
        if self.hf is None or item.index is None:
            raise AudioError(f"{item.id}: the item has no audio")
        a = self.hf[item.index]["audio"]
        arr = np.asarray(a["array"], dtype=np.float32)
        if arr.ndim > 1:
            arr = arr.mean(axis=-1 if arr.shape[-1] <= 8 else 0)
        if arr.size == 0 or not np.all(np.isfinite(arr)):
            raise AudioError(f"{self.source}[{item.index}] ({item.id}): empty or non-finite audio")
        sr = int(a["sampling_rate"])
        if sr != SAMPLE_RATE:
            import librosa
            arr = librosa.resample(arr, orig_sr=sr, target_sr=SAMPLE_RATE, res_type="soxr_hq")
        return arr

    def duration(self, item: AsrItem) -> float:
        """Seconds of audio (from the manifest, the file header, or 0 when unknown/unreadable)."""
        if item.duration_s is not None:
            return float(item.duration_s)
        if item.audio is not None:
            try:
                import soundfile as sf
                info = sf.info(str(item.audio))
                return info.frames / info.samplerate
            except Exception:
                return 0.0
        return 0.0

    def limit(self, n: int | None) -> "AsrDataset":
        if n is None:
            return self
        if n < 1:
            raise DatasetError(f"limit={n}: expected a positive number of items")
        return AsrDataset(self.items[:n], self.source, self.hf)


def load_dataset(source: str | Path, limit: int | None = None) -> AsrDataset:
    """Open an ASR dataset (see the module docstring for the accepted sources)."""
    s = str(source)
    if s.startswith("hf:"):
        return load_hf(s[3:]).limit(limit)
    p = Path(s)
    if p.exists() and not (p.is_file() or p.is_dir()):
        raise DatasetError("not a regular file (a FIFO, socket or device)", p)
    if p.is_file():
        if p.suffix not in (".jsonl", ".json"):
            raise DatasetError(f"{p}: expected a JSONL manifest (.jsonl), a folder, or hf:NAME")
        return load_manifest(p).limit(limit)
    if p.is_dir():
        if (p / "manifest.jsonl").is_file():
            return load_manifest(p / "manifest.jsonl").limit(limit)
        if next(p.rglob("*.trans.txt"), None) is not None:
            return load_librispeech(p).limit(limit)
        raise DatasetError(f"{p}: a folder without manifest.jsonl or LibriSpeech *.trans.txt files")
    raise DatasetError(f"{p}: no such manifest or folder (for a Hugging Face dataset use "
                       f"hf:NAME[:CONFIG[:SPLIT]], e.g. hf:openslr/librispeech_asr:clean:test)")


def load_manifest(path: str | Path) -> AsrDataset:
    path = Path(path)
    items: list[AsrItem] = []
    if not path.is_file():
        raise DatasetError("not a regular file (a folder, FIFO or device)", path)
    for n, line in enumerate(_text_lines(path), 1):
        if True:  # (indentation kept from the former `with open(...)` block)
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DatasetError(f"{path}:{n}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise DatasetError(f"{path}:{n}: expected a JSON object, got {type(row).__name__}")
            item_id = str(row.get("id") or row.get("audio") or f"line{n}")
            problem = None
            audio = row.get("audio")
            if not isinstance(audio, str) or not audio:
                problem, audio_path = f"{path}:{n}: no 'audio' path", None
            else:
                audio_path = Path(audio) if Path(audio).is_absolute() else path.parent / audio
            text = row.get("text")
            if not isinstance(text, str) or not text.strip():
                problem = problem or f"{path}:{n}: empty or missing transcript 'text'"
                text = text if isinstance(text, str) else ""
            dur = row.get("duration_s")
            items.append(AsrItem(item_id, audio_path, text,
                                 float(dur) if isinstance(dur, (int, float)) else None,
                                 str(row["speaker"]) if row.get("speaker") is not None else None,
                                 problem=problem))
    if not items:
        raise DatasetError(f"{path}: the manifest holds no items")
    return AsrDataset(items, str(path))


def _text_lines(path: Path) -> list[str]:
    """The file's lines as UTF-8 (a leading byte-order mark is accepted); a DatasetError naming
    the file, line and byte otherwise."""
    lines = path.read_bytes().split(b"\n")
    out = []
    for n, raw in enumerate(lines, 1):
        try:
            out.append(raw.decode("utf-8-sig" if n == 1 else "utf-8"))
        except UnicodeDecodeError as e:
            raise DatasetError(f"not UTF-8 text (byte {e.start} of the line: "
                               f"{raw[e.start:e.start + 1]!r})", path, n) from None
    return out


def load_librispeech(folder: str | Path) -> AsrDataset:
    """LibriSpeech's own layout: <split>/<speaker>/<chapter>/<spk>-<ch>-<utt>.flac and one
    <spk>-<ch>.trans.txt per chapter ("ID TRANSCRIPT" lines)."""
    folder = Path(folder)
    items: list[AsrItem] = []
    for trans in sorted(folder.rglob("*.trans.txt")):
        for n, line in enumerate(_text_lines(trans), 1):
            if not line.strip():
                continue
            utt, _, text = line.strip().partition(" ")
            audio = trans.parent / f"{utt}.flac"
            problem = None if text.strip() else f"{trans}:{n}: empty transcript for {utt}"
            items.append(AsrItem(utt, audio, text, speaker=utt.split("-")[0], problem=problem))
    if not items:
        raise DatasetError(f"{folder}: no LibriSpeech transcripts (*.trans.txt) found")
    return AsrDataset(items, str(folder))


def load_hf(spec: str) -> AsrDataset:
    """`name[:config[:split]]` from the HF hub via `datasets` (needs the network)."""
    parts = spec.split(":")
    name = parts[0]
    config = parts[1] if len(parts) > 1 and parts[1] else None
    split = parts[2] if len(parts) > 2 and parts[2] else "test"
    try:
        import datasets  # noqa: F401 (optional dependency)
        from datasets import load_dataset as hf_load
    except ImportError:
        raise DatasetError(f"hf:{spec}: the 'datasets' package is not installed "
                           "(pip install datasets), or use a manifest / LibriSpeech folder") from None
    try:
        ds = hf_load(name, config, split=split)
    except Exception as e:
        raise DatasetError(f"hf:{spec}: could not load {name!r} (config {config!r}, split "
                           f"{split!r}); offline? {type(e).__name__}: {e}") from None
    items = []
    for i, row in enumerate(ds.remove_columns([c for c in ds.column_names if c == "audio"])):
        text = str(row.get("text") or row.get("sentence") or "")
        uid = str(row.get("id") or f"{name}-{i}")
        items.append(AsrItem(uid, None, text, speaker=str(row.get("speaker_id", "")) or None,
                             index=i, problem=None if text.strip() else f"hf:{spec}[{i}]: empty "
                             "transcript"))
    return AsrDataset(items, f"hf:{spec}", hf=ds)
