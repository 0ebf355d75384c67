"""Hugging Face `datasets`: a folder written by `save_to_disk` (`FOLDER:SPLIT` for one split of a
saved DatasetDict), a `datasets.Dataset` object, or a hub name (`hf:NAME[:CONFIG[:SPLIT]]`, needs
the network).

Audio is read with the column cast to `Audio(decode=False)` and decoded here with
soundfile/librosa, so no torchcodec/ffmpeg is needed. A `DatasetDict` needs a split.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from speechbudget.datasets.base import (Columns, DatasetError, PcmWidthGuessWarning, Record,
                                        decode_cell, pcm_width, pcm_width_guess, pick_column)
from speechbudget.datasets.manifest import OPTIONS


def _require():
    try:
        import datasets  # noqa: F401 (optional dependency)
    except ImportError:
        raise DatasetError("the 'datasets' package is not installed: pip install "
                           "'speechbudget[hf]' (or use a manifest, CSV or Kaldi dir)") from None
    return datasets


def is_saved_dataset(folder: Path) -> bool:
    return (folder / "dataset_info.json").is_file() or (folder / "dataset_dict.json").is_file()


def is_hf_dataset(obj: Any) -> bool:
    return type(obj).__module__.startswith("datasets.") and hasattr(obj, "column_names")


class HfDataset:
    """Records over a `datasets.Dataset`; the audio of record i is row i's audio cell."""

    def __init__(self, table: Any, source: str, columns: Columns = Columns(),
                 need: tuple[str, ...] = ("text",), split: str | None = None):
        datasets = _require()
        if isinstance(table, datasets.DatasetDict):
            splits = list(table)
            if split is None:
                if len(splits) != 1:
                    raise DatasetError(f"{source}: a DatasetDict with splits "
                                       f"{', '.join(splits)}; name one ({source}:SPLIT)")
                split = splits[0]
            if split not in table:
                raise DatasetError(f"{source}: no split {split!r} (splits: {', '.join(splits)})")
            table = table[split]
        elif split is not None:
            raise DatasetError(f"{source}: a Dataset without splits (not a DatasetDict); no split "
                               f"{split!r} to choose: open {source} itself")
        names = list(table.column_names)
        col = {role: pick_column(names, role, getattr(columns, role, None), source,
                                 required=role in ("audio", *need), option=OPTIONS.get(role))
               for role in ("audio", "text", "label", "speaker", "id")}
        self.source = source
        self.audio_column = col["audio"]
        self._widths_said: set[str] = set()  # PCM widths guessed and said (`_say_width_guess`)
        if isinstance(table.features.get(col["audio"]), datasets.Audio):
            table = table.cast_column(col["audio"], datasets.Audio(decode=False))
        self.table = table
        label_names = getattr(table.features.get(col["label"]), "names", None) \
            if col["label"] else None
        meta = table.remove_columns([col["audio"]])
        self.records: list[Record] = []
        for i, row in enumerate(meta):
            text = row.get(col["text"]) if col["text"] else None
            problem = None
            if "text" in need and not isinstance(text, str):  # None: missing; "" is scored
                problem = f"{source}[{i}]: missing transcript {col['text']!r} (got {text!r})"
            label = row.get(col["label"]) if col["label"] else None
            if label_names is not None and isinstance(label, int):
                label = label_names[label]
            spk = row.get(col["speaker"]) if col["speaker"] else None
            rid = row.get(col["id"]) if col["id"] else None
            self.records.append(Record(
                id=str(rid if rid not in (None, "") else f"{Path(source).name}-{i}"), index=i,
                text=text if isinstance(text, str) else (None if text is None else str(text)),
                label=None if label is None else str(label),
                speaker=None if spk in (None, "") else str(spk), problem=problem))

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.table[index]

    def read_audio(self, record: Record) -> np.ndarray:
        from speechbudget.audio import AudioError
        if record.index is None:
            raise AudioError(f"{self.source}: {record.id} has no row")
        return self.read_row(record.index, record.id)

    def read_row(self, index: int, name: str = "") -> np.ndarray:
        cell = self.table[index][self.audio_column]
        where = f"{self.source}[{index}]" + (f" ({name})" if name else "")
        dtype = _array_dtype(self.table.features.get(self.audio_column))
        if isinstance(cell, dict) and cell.get("array") is not None:
            # rows come back as Python lists: the column's integer type says how to scale them
            array = np.asarray(cell["array"], dtype=dtype)
            if array.dtype.kind in "iu" and array.dtype.itemsize == 8:  # no PCM width: guessed
                kind = pcm_width(array, where)
                self._say_width_guess(kind, array, index)
                array = array.astype(kind)
            cell = {**cell, "array": array}
        return decode_cell(cell, where)

    def _say_width_guess(self, kind: str, array: np.ndarray, index: int) -> None:
        """One PcmWidthGuessWarning per dataset (per width chosen) naming the column and the
        first row read so."""
        if kind in self._widths_said:
            return
        self._widths_said.add(kind)
        import warnings
        warnings.warn(PcmWidthGuessWarning(
            f"{self.source}: column {self.audio_column!r}: "
            + pcm_width_guess(kind, array, "declare the column's sample dtype")
            + f" (row {index} first; said once for this dataset)"),
            stacklevel=3)


def _array_dtype(feature: Any) -> str | None:
    """The integer dtype of an {"array": [...], "sampling_rate"} column's samples, else None."""
    inner = feature.get("array") if isinstance(feature, dict) else None
    while inner is not None and hasattr(inner, "feature"):  # List / Sequence, nested for channels
        inner = inner.feature
    dtype = getattr(inner, "dtype", None)
    return dtype if isinstance(dtype, str) and dtype.startswith(("int", "uint")) else None


def load_saved(folder: str | Path, columns: Columns = Columns(), need=("text",),
               split: str | None = None) -> HfDataset:
    datasets = _require()
    folder = Path(folder)
    try:
        table = datasets.load_from_disk(str(folder))
    except Exception as e:  # noqa: BLE001 (name the folder and the real cause)
        raise DatasetError(f"{folder}: not readable with datasets.load_from_disk: "
                           f"{type(e).__name__}: {e}") from None
    return HfDataset(table, str(folder), columns, need, split)


def load_hub(spec: str, columns: Columns = Columns(), need=("text",)) -> HfDataset:
    """`name[:config[:split]]` from the hub (split default: test). The hub's host is probed
    first (models.hf_hub.hub_unreachable): unreachable, a DatasetError at once, where `datasets`
    retried each request with back-off (25 s and a dozen 'Retrying' lines) before saying so;
    with HF_HUB_OFFLINE / HF_DATASETS_OFFLINE set, the Hugging Face cache is read as `datasets`
    does."""
    datasets = _require()
    offline = any(os.environ.get(k, "") not in ("", "0")
                  for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    if not offline:
        from speechbudget.models.hf_hub import hub_unreachable
        why = hub_unreachable()
        if why is not None:
            raise DatasetError(f"hf:{spec}: the Hugging Face hub cannot be reached from here "
                               f"({why}); set HF_HUB_OFFLINE=1 to read a copy in the Hugging "
                               "Face cache, or pass a save_to_disk folder or a manifest")
    parts = spec.split(":")
    name = parts[0]
    config = parts[1] if len(parts) > 1 and parts[1] else None
    split = parts[2] if len(parts) > 2 and parts[2] else "test"
    try:
        table = datasets.load_dataset(name, config, split=split)
    except Exception as e:  # noqa: BLE001 (the real cause, not a guess)
        raise DatasetError(f"hf:{spec}: could not load {name!r} (config {config!r}, split "
                           f"{split!r}): {type(e).__name__}: {e}") from None
    return HfDataset(table, f"hf:{spec}", columns, need)
