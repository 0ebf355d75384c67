"""Scoring a trained SER model on clips, and what a checkpoint says about the clips it may score:
the labels its head was fitted on (`trained_labels`, `untrained_labels`) and the audio it trained
or early-stopped on (`clip_files`, `clip_digests`, `fitted_clips`)."""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from speechbudget.geometry import SAMPLE_RATE
from speechbudget.records import ItemResult
from speechbudget.tasks.ser.data import SerDataset
from speechbudget.tasks.ser.features import predict_logits


# a clip whose logits are not all finite (an overflow in the features or the model): a failed
# item naming it, not a prediction of the first label with NaN probabilities
NON_FINITE = "{path}: the model's output for this clip is not finite (inf/NaN); not scored"


def item_results(dataset: SerDataset, ids: Sequence[str], result_model, audio, skipped,
                 cache, inf_gflops: float | None, batch_size: int, fold: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> list[ItemResult]:
    """One ItemResult per clip of `ids`: those read (`audio`) scored by `result_model` (a clip
    with non-finite output is a failed item, NON_FINITE), those `skipped` failed with their
    reason. `fold` is recorded in each item's extra."""
    clips = [c for c in dataset.subset(ids) if c.id in audio]
    t0 = time.perf_counter()
    logits = predict_logits(result_model, clips, audio, cache, batch_size, progress=progress)
    per_clip = (time.perf_counter() - t0) / max(1, len(clips))
    labels = result_model.labels
    out = []
    probs = logits.softmax(-1)
    finite = torch.isfinite(logits).all(1).tolist()
    for c, row, p, ok in zip(clips, logits.argmax(1).tolist(), probs, finite):
        if not ok:  # argmax of NaN is 0: it was scored as the first label, probs NaN
            out.append(ItemResult(item_id=c.id, ok=False, reference=c.label,
                                  error=NON_FINITE.format(path=c.path),
                                  extra={"speaker": c.speaker, "fold": fold}))
            continue
        pred = labels[row]
        out.append(ItemResult(item_id=c.id, ok=True, prediction=pred, reference=c.label,
                              errors=int(pred != c.label), n_ref=1,
                              audio_s=len(audio[c.id]) / SAMPLE_RATE, gflops=inf_gflops,
                              timings={"inference": per_clip},
                              extra={"speaker": c.speaker, "fold": fold,
                                     "probs": [round(float(x), 6) for x in p]}))
    wanted = set(ids)
    for cid, reason in skipped:
        if cid in wanted:
            c = dataset.get(cid)
            out.append(ItemResult(item_id=cid, ok=False, reference=c.label, error=reason,
                                  extra={"speaker": c.speaker, "fold": fold}))
    return out


def untrained_labels(clips: Sequence, trained: Sequence[str]) -> dict[str, int]:
    """{label: clips} of `clips` whose label is not in `trained` (the labels a head was fitted
    on): the head cannot predict them, so their recall, and their share of UA, is 0."""
    out: dict[str, int] = {}
    for c in clips:
        if c.label not in trained:
            out[c.label] = out.get(c.label, 0) + 1
    return dict(sorted(out.items()))


def describe_labels(counts: dict[str, int]) -> tuple[str, str]:
    """('3 clip(s)', 'FEA (2), SAD (1)'): how many clips, of which labels."""
    return (f"{sum(counts.values())} clip(s)",
            ", ".join(f"{lab} ({n})" for lab, n in counts.items()))


def trained_labels(meta: dict[str, Any]) -> list[str] | None:
    """The labels a checkpoint's head was fitted on: `trained_labels` (saved since 96b2f5d), else
    those of nonzero `class_counts` (the training fold's clips, without the validation clips a
    refit also fits on: `evaluate` only warns then); None when it says neither."""
    got = meta.get("trained_labels")
    if isinstance(got, list) and all(isinstance(x, str) for x in got):
        return got
    counts = meta.get("class_counts")
    if isinstance(counts, dict):
        return [lab for lab, n in counts.items() if isinstance(n, int) and n > 0]
    return None


def clip_files(clips: Sequence) -> list[str]:
    """The clips' audio files as absolute paths (what `fitted_clips` compares), sorted."""
    return sorted({str(Path(c.path).resolve()) for c in clips})


def file_digest(path: str | Path) -> str | None:
    """A digest of the file's bytes (BLAKE2b, 16 bytes, hex), or None when it cannot be read."""
    h = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def clip_digests(clips: Sequence) -> list[str]:
    """The digests of the clips' audio files (what `fitted_clips` compares where the paths
    differ: a copy of the data set in another folder or on another machine), sorted."""
    return sorted({d for d in (file_digest(c.path) for c in clips) if d is not None})


def fitted_clips(meta: dict[str, Any], dataset: SerDataset, clips: Sequence) -> list[str]:
    """The ids of those `clips` whose audio the checkpoint (its ser_config.json `meta`) trained or
    early-stopped on: its `fitted_files` (the same file, wherever the manifest lies) or, for a
    checkpoint that records them, a file of the same bytes as one of its `fitted_digests` (a
    copy of the data moved elsewhere: its paths differ); for a checkpoint saved without
    `fitted_files`, on the dataset it was trained on (the same path), every clip but its
    `test_ids`."""
    files = meta.get("fitted_files")
    if isinstance(files, list):
        fitted = set(files)
        digests = meta.get("fitted_digests")
        same = set(digests) if isinstance(digests, list) else set()
        return [c.id for c in clips if str(Path(c.path).resolve()) in fitted
                or (same and file_digest(c.path) in same)]
    test, source = meta.get("test_ids"), meta.get("dataset")
    if not isinstance(test, list) or not isinstance(source, str) or \
            Path(source).resolve() != Path(dataset.source).resolve():
        return []
    held_out = set(test)
    return [c.id for c in clips if c.id not in held_out]
