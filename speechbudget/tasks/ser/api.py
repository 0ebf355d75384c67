"""The plain SER API, what `ser train` and `ser eval` call:

    result = train(config, dataset, "out/")          # trains, saves a checkpoint, returns metrics
    metrics, items = evaluate("out/", dataset)       # reloads and scores

`train` fits on all folds but one (the next one held out for early stopping) and scores that
fold; `evaluate` reloads a checkpoint and scores any clips (speechbudget.tasks.ser.scoring).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable, MutableMapping, Sequence

import torch

from speechbudget.axes import Config
from speechbudget.errors import DatasetError, OutputError, check_output_dir
from speechbudget.records import ItemResult
from speechbudget.tasks.ser.checkpoint import load_checkpoint, save_checkpoint
from speechbudget.tasks.ser.data import SerDataset, load_dataset
from speechbudget.tasks.ser.features import predict_logits, read_clips
from speechbudget.tasks.ser.metrics import SerMetrics, fit_training_gflops, flops_for, ser_metrics
from speechbudget.tasks.ser.model import TrainResult
from speechbudget.tasks.ser.options import TrainOptions
from speechbudget.tasks.ser.runner import check_config, fold_splits
from speechbudget.tasks.ser.scoring import NON_FINITE, clip_digests, clip_files, \
    describe_labels, fitted_clips, item_results, trained_labels, untrained_labels
from speechbudget.tasks.ser.train import FitProgress, fit


class CheckpointNotSaved(OutputError):
    """`train` trained and scored, then could not write the checkpoint (a full disk, a folder made
    read-only meanwhile): exit 6 naming it, with what was computed in `result` (its `test`
    scores) so that the caller can still show it."""

    def __init__(self, message: str, result: TrainResult):
        super().__init__(message)
        self.result = result


def as_dataset(dataset: SerDataset | str | Path) -> SerDataset:
    return dataset if isinstance(dataset, SerDataset) else load_dataset(dataset)


def train(config: Config, dataset: SerDataset | str | Path, out_dir: str | Path,
          options: TrainOptions | None = None, device: str = "cpu", source: str | None = None,
          folds: int = 5, fold: int = 0, cache: MutableMapping | None = None,
          progress: FitProgress | None = None) -> TrainResult:
    """Train on all folds but `fold` (the next one for early stopping), score fold `fold`, and save
    a checkpoint (with the metrics and the held-out clip ids) in `out_dir`. `progress(done, total,
    phase)`: `fit`'s phases ("features", "epoch"), then "test" (held-out clips scored)."""
    check_config(config)
    check_output_dir(out_dir, "checkpoint folder")  # before the work (exit 6), not after it
    ds = as_dataset(dataset)
    opt = (options or TrainOptions()).for_config(config)
    train_ids, val_ids, test_ids = fold_splits(ds, folds, opt.seed, fold)
    audio, skipped = read_clips(ds.subset(test_ids))  # before training: something to score
    clips = [c for c in ds.subset(test_ids) if c.id in audio]
    if not clips:
        raise DatasetError(f"{ds.source}: no readable clip in the held-out fold {fold} of {folds} "
                           f"({len(skipped)} skipped" + (f", first {skipped[0][0]}: "
                                                         f"{skipped[0][1]})" if skipped else ")"))
    result = fit(config, ds, train_ids, val_ids, opt, source, device, cache, progress=progress)
    unseen = untrained_labels(clips, result.classes)
    if unseen:  # scored (and saved) as they are, but said: the UA counts them as all wrong
        n, which = describe_labels(unseen)
        warnings.warn(f"{ds.source}: held-out fold {fold} has {n} of a label no training clip "
                      f"has: {which}; the head cannot predict them (their recall, in UA, is 0)",
                      stacklevel=2)
    test_progress = None if progress is None else (
        lambda done, total: progress(done, total, "test"))
    logits = predict_logits(result.model, clips, audio, cache, opt.eval_batch_size,
                            progress=test_progress)
    finite = torch.isfinite(logits).all(1).tolist()
    skipped += [(c.id, NON_FINITE.format(path=c.path)) for c, ok in zip(clips, finite) if not ok]
    scored = [(c, row) for c, row, ok in zip(clips, logits.argmax(1).tolist(), finite) if ok]
    if not scored:
        raise DatasetError(f"{ds.source}: no clip of the held-out fold {fold} has a finite "
                           f"output (first: {skipped[-1][1]})")
    test = ser_metrics([c.label for c, _ in scored],
                       [result.model.labels[row] for _, row in scored], result.model.labels)
    test.inference_gflops, _ = flops_for(config, n_classes=len(ds.labels), pooling=opt.pooling,
                                         layer_weights=opt.layer_weights, head=opt.head)
    test.train_gflops = fit_training_gflops(result, opt, len(ds.labels))
    result.skipped.extend(skipped)
    result.test = test
    try:
        save_checkpoint(result.model, out_dir, opt, extra={
            "dataset": ds.source, "folds": folds, "fold": fold, "test_ids": test_ids,
            "val_ids": val_ids, "fitted_files": clip_files(ds.subset(train_ids + val_ids)),
            "fitted_digests": clip_digests(ds.subset(train_ids + val_ids)),
            "class_counts": ds.class_counts(ds.subset(train_ids)),
            "trained_labels": list(result.classes),
            "history": result.history, "best_epoch": result.best_epoch,
            "trainable_params": result.trainable_params, "skipped": result.skipped,
            "val": result.val.to_dict() if result.val else None, "test": test.to_dict()})
    except OutputError as e:  # the scores were lost with the exception
        raise CheckpointNotSaved(str(e), result) from None
    return result


def evaluate(checkpoint_dir: str | Path, dataset: SerDataset | str | Path, device: str = "cpu",
             ids: Sequence[str] | None = None, batch_size: int = 16,
             progress: Callable[[int, int], None] | None = None, untrained: str = "error"
             ) -> tuple[SerMetrics, list[ItemResult]]:
    """Reload a checkpoint and score it on `ids` (default: every clip of `dataset`). Clip labels
    outside the checkpoint's label set are an error; so are labels its head was never fitted on
    (`trained_labels`: no training clip had them), unless `untrained="warn"` (a warning, and
    they are scored: `ser eval --held-out`, the fold `ser train` scored the same way).
    `progress(done, total)`: clips scored, per batch."""
    if untrained not in ("error", "warn"):
        raise ValueError(f"untrained={untrained!r}: expected 'error' or 'warn'")
    model, meta = load_checkpoint(checkpoint_dir, device)
    ds = as_dataset(dataset)
    clips = ds.items if ids is None else ds.subset(ids)
    bad = sorted({c.label for c in clips} - set(model.labels))
    if bad:
        raise DatasetError(f"{ds.source}: label {bad[0]!r} is not in the checkpoint's label set "
                           f"{model.labels}")
    trained = trained_labels(meta)
    unseen = {} if trained is None else untrained_labels(clips, trained)
    if unseen:
        n, which = describe_labels(unseen)
        what = (f"{ds.source}: {n} of a label the checkpoint {checkpoint_dir} was not trained "
                f"on: {which} (its training clips had {', '.join(trained)}); its head cannot "
                f"predict them")
        # a checkpoint saved before trained_labels: its class_counts leave out the validation
        # clips a refit trains on, so they are a reason to warn, not to refuse
        if untrained == "error" and "trained_labels" in meta:
            raise DatasetError(what + "; leave those clips out of the data to score the labels "
                               "it knows")
        warnings.warn(what + " (their recall, in UA, is 0)", stacklevel=2)
    audio, skipped = read_clips(clips)
    inf, _ = flops_for(model.config, n_classes=len(model.labels), pooling=model.head.pooling,
                       layer_weights=model.head.layer_weights is not None, head=model.head.kind)
    items = item_results(ds, [c.id for c in clips], model, audio, skipped, None, inf, batch_size,
                         progress=progress)
    ok = [r for r in items if r.ok]
    if not ok:
        failed = [r for r in items if not r.ok]
        raise DatasetError(f"{ds.source}: no readable clips to evaluate ({len(failed)} skipped"
                           + (f", first: {failed[0].error})" if failed else ")"))
    m = ser_metrics([r.reference for r in ok], [r.prediction for r in ok], model.labels)
    m.inference_gflops = inf
    m.extra["skipped"] = skipped
    seen = fitted_clips(meta, ds, ds.subset(r.item_id for r in ok))
    m.extra["fitted_clips"] = len(seen)
    if seen:  # scored, but a UA over them says how well it remembers, not how it generalises
        warnings.warn(f"{ds.source}: {len(seen)} of the {len(ok)} clips scored were the "
                      f"checkpoint's training or validation clips (e.g. {seen[0]!r}), so this "
                      f"UA is not a held-out score (--held-out scores only its test fold)",
                      stacklevel=2)
    return m, items
