"""ASR datasets: any source `speechbudget.datasets.open_dataset` reads, as AsrItems.

    load_dataset("data/librispeech_sample")                  # folder holding manifest.jsonl
    load_dataset("my/manifest.jsonl")                         # {"audio": "rel/path.flac", "text": ...}
    load_dataset("my/metadata.csv", Columns(audio="file", text="sentence"))   # CSV/TSV + folder
    load_dataset("LJSpeech-1.1")                              # metadata.csv (ID|TEXT|NORMALIZED) + wavs/
    load_dataset("nemo.jsonl", audio_root="/data/audio")      # relative paths from another folder
    load_dataset("data/train")                                # Kaldi dir (wav.scp, text, segments)
    load_dataset("saved/")  /  load_dataset(hf_dataset_obj)   # HF save_to_disk folder / object
    load_dataset("/corpora/LibriSpeech/test-clean")           # speaker/chapter/*.flac + *.trans.txt
    load_dataset("hf:openslr/librispeech_asr:clean:test")     # HF datasets (network), name:config:split

Manifest lines: `audio` (path relative to the manifest, or absolute), `text`, optional `id`,
`duration_s`, `speaker` (other column names: `Columns`). A line that is not JSON or not an object is an error naming file and line.
Item-level problems (no `audio`, a missing transcript) do not stop loading: the item keeps a
`problem` and the runner reports it as a failed ItemResult (as it does for unreadable audio).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from speechbudget.audio import soundfile_name
from speechbudget.datasets import Columns, DatasetError, open_dataset
from speechbudget.datasets.base import read_file

__all__ = ["AsrDataset", "AsrItem", "Columns", "DatasetError", "load_dataset", "load_manifest",
           "load_librispeech", "load_hf"]


@dataclass(frozen=True)
class AsrItem:
    id: str
    audio: Path | None           # file path, or None for in-memory (HF) audio
    text: str
    duration_s: float | None = None
    speaker: str | None = None
    index: int | None = None     # row in a HF dataset
    problem: str | None = None   # why this item cannot be evaluated (reported, not raised)
    start_s: float | None = None # a cut of the file (Kaldi segments)
    end_s: float | None = None


@dataclass
class AsrDataset:
    items: list[AsrItem]
    source: str
    hf: Any = field(default=None, repr=False)  # reader of in-memory rows (`read_row(i, name)`)

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
        from speechbudget.audio import AudioError
        if item.audio is not None:
            return read_file(item.audio, item.start_s, item.end_s)
        if self.hf is None or item.index is None:
            raise AudioError(f"{item.id}: the item has no audio")
        return self.hf.read_row(item.index, item.id)

    def joined(self, min_s: float, pause_s: float = 0.4) -> tuple[np.ndarray, str, int]:
        """A long recording built from this dataset: its utterances in order, each followed by
        `pause_s` of silence, until at least `min_s` seconds (all of them if fewer). Returns
        (audio, the joined reference transcripts, utterances used)."""
        from speechbudget.geometry import SAMPLE_RATE
        pause = np.zeros(int(round(pause_s * SAMPLE_RATE)), np.float32)
        parts: list[np.ndarray] = []
        refs: list[str] = []
        for item in self.items:
            parts += [self.load_audio(item), pause]
            refs.append(item.text)
            if sum(len(p) for p in parts) >= min_s * SAMPLE_RATE:
                break
        return (np.concatenate(parts) if parts else np.zeros(0, np.float32), " ".join(refs),
                len(refs))

    def duration(self, item: AsrItem) -> float:
        """Seconds of audio (from the manifest, the file header, or 0 when unknown/unreadable)."""
        if item.duration_s is not None:
            return float(item.duration_s)
        if item.start_s is not None and item.end_s is not None:
            return float(item.end_s - item.start_s)
        if item.audio is not None:
            try:
                import soundfile as sf
                info = sf.info(soundfile_name(item.audio))
                return info.frames / info.samplerate - (item.start_s or 0.0)
            except Exception:
                return 0.0
        return 0.0

    def limit(self, n: int | None) -> "AsrDataset":
        if n is None:
            return self
        if n < 1:
            raise DatasetError(f"limit={n}: expected a positive number of items")
        return AsrDataset(self.items[:n], self.source, self.hf)


def load_dataset(source: Any, limit: int | None = None, columns: Columns = Columns(),
                 audio_root: str | Path | None = None, need_text: bool = True) -> AsrDataset:
    """Open an ASR dataset (see the module docstring for the accepted sources). `need_text`
    False: a table without a transcript column is accepted (label-free adaptation)."""
    if isinstance(source, AsrDataset):
        return source.limit(limit)
    need = ("text",) if need_text else ()
    return from_records(open_dataset(source, columns, audio_root, need=need)).limit(limit)


def from_records(ds: Any) -> AsrDataset:
    """AsrItems from a `speechbudget.datasets.Dataset` (file records or in-memory rows)."""
    items = [AsrItem(r.id, r.path, r.text or "", r.duration_s, r.speaker, index=r.index,
                     problem=r.problem, start_s=r.start_s, end_s=r.end_s) for r in ds.records]
    if not items:
        raise DatasetError(f"{ds.source}: the dataset holds no items")
    return AsrDataset(items, ds.source, hf=ds if hasattr(ds, "read_row") else None)


def load_manifest(path: str | Path, columns: Columns = Columns()) -> AsrDataset:
    from speechbudget.datasets.manifest import load_table
    return from_records(load_table(path, columns))


def load_librispeech(folder: str | Path) -> AsrDataset:
    from speechbudget.datasets.librispeech import load_librispeech as load
    return from_records(load(folder))


def load_hf(spec: str, columns: Columns = Columns()) -> AsrDataset:
    """`name[:config[:split]]` from the HF hub via `datasets` (needs the network)."""
    from speechbudget.datasets.hf import load_hub
    return from_records(load_hub(spec, columns))
