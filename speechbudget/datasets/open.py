"""`open_dataset(source)`: pick the adapter for a path, a hub name or an in-memory object."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from speechbudget.datasets.base import Columns, Dataset, DatasetError

MANIFEST_NAMES = ("manifest.jsonl", "metadata.jsonl", "manifest.csv", "metadata.csv",
                  "manifest.tsv", "metadata.tsv")
MANIFEST_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv")


def open_dataset(source: Any, columns: Columns = Columns(), audio_root: str | Path | None = None,
                 need: tuple[str, ...] = ("text",)) -> Dataset:
    """The adapter for `source` (see the package docstring). `need`: roles that must have a
    column (ASR: text; SER: label and speaker). With "text" needed, an item whose transcript is
    present but empty (a blank cell, "", a Kaldi id alone) is an item like any other, scored as
    a recording with no speech (each word transcribed is an insertion), as jiwer and torchmetrics
    count it; one warning says how many there are. A transcript that is missing (JSON null or no
    such key, a short CSV row) is the item's problem, a failed item naming its line."""
    ds = _open(source, columns, audio_root, need)
    if "text" in need:
        warn_empty_transcripts(ds)
    return ds


def warn_empty_transcripts(ds: Dataset) -> None:
    """One warning naming how many items (and the first) have an empty reference transcript."""
    empty = [r.id for r in ds.records if r.problem is None and r.text is not None
             and not r.text.strip()]
    if empty:
        warnings.warn(f"{getattr(ds, 'source', 'data')}: {len(empty)} of {len(ds.records)} "
                      f"items have an empty reference transcript (first: {empty[0]!r}); they are "
                      f"scored as recordings without speech: every word transcribed there is an "
                      f"insertion", stacklevel=3)


def _open(source: Any, columns: Columns, audio_root: str | Path | None,
          need: tuple[str, ...]) -> Dataset:
    from speechbudget.datasets import hf, kaldi, librispeech
    if not isinstance(source, (str, Path)):
        if hf.is_hf_dataset(source):
            _no_root(audio_root, type(source).__name__, "an in-memory Hugging Face dataset")
            return hf.HfDataset(source, f"<{type(source).__name__} of {len(source)} rows>",
                                columns, need)
        raise DatasetError(f"{type(source).__name__}: expected a path, hf:NAME or a "
                           "datasets.Dataset")
    s = str(source)
    if s.startswith("hf:"):
        _no_root(audio_root, s, "a Hugging Face hub dataset")
        return hf.load_hub(s[3:], columns, need)
    p = Path(s)
    if p.exists() and not (p.is_file() or p.is_dir()):
        raise DatasetError("not a regular file (a FIFO, socket or device)", p)
    if audio_root is not None and not Path(audio_root).is_dir():
        raise DatasetError(f"audio root {audio_root}: no such folder")
    if p.is_file():
        if p.suffix.lower() not in MANIFEST_SUFFIXES:
            raise DatasetError(f"{p}: expected a manifest (.jsonl, .csv, .tsv), a folder, or "
                               "hf:NAME")
        return _table(p, columns, audio_root, need)
    if p.is_dir():
        for name in MANIFEST_NAMES:
            if (p / name).is_file():
                return _table(p / name, columns, audio_root, need)
        if kaldi.is_kaldi_dir(p):
            return kaldi.load_kaldi(p, need_text="text" in need, audio_root=audio_root)
        if hf.is_saved_dataset(p):
            _no_root(audio_root, p, "a Hugging Face save_to_disk folder (its audio is inside)")
            return hf.load_saved(p, columns, need)
        if librispeech.is_librispeech(p):
            _no_root(audio_root, p, "a LibriSpeech folder (its audio lies beside each "
                     "*.trans.txt)")
            return librispeech.load_librispeech(p, need_text="text" in need)
        raise DatasetError(f"{p}: a folder without a manifest ({', '.join(MANIFEST_NAMES)}), "
                           "Kaldi wav.scp, save_to_disk files or LibriSpeech *.trans.txt")
    folder, _, split = s.rpartition(":")
    if folder and split and Path(folder).is_dir() and hf.is_saved_dataset(Path(folder)):
        # FOLDER:SPLIT, a split of a save_to_disk DatasetDict (as its error asks)
        _no_root(audio_root, s, "a Hugging Face save_to_disk folder (its audio is inside)")
        return hf.load_saved(folder, columns, need, split)
    raise DatasetError(f"{p}: no such manifest or folder (for a Hugging Face hub dataset use "
                       f"hf:NAME[:CONFIG[:SPLIT]], e.g. hf:openslr/librispeech_asr:clean:test)")


def _table(path: Path, columns: Columns, audio_root: str | Path | None, need: tuple[str, ...]
           ) -> Dataset:
    """A manifest file: LJSpeech's headerless `ID|TEXT|NORMALIZED` metadata.csv, or a table."""
    from speechbudget.datasets import ljspeech, manifest
    if ljspeech.is_ljspeech(path):
        return ljspeech.load_ljspeech(path, columns, audio_root, need)
    return manifest.load_table(path, columns, audio_root, need)


def _no_root(audio_root: str | Path | None, source: Any, what: str) -> None:
    if audio_root is not None:
        raise DatasetError(f"{source}: is {what}; an audio root (--audio-root {audio_root}) is "
                           "for manifests, LJSpeech metadata and Kaldi dirs, whose audio paths "
                           "may be relative to another folder")
