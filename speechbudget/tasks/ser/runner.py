"""SER as a speechbudget Task (shards = speaker-disjoint folds) and the plain API:

    result = train(config, dataset, "out/")          # trains, saves a checkpoint, returns metrics
    metrics, items = evaluate("out/", dataset)       # reloads and scores

Each fold-shard trains on the other folds (the next fold, cyclically, held out for early stopping)
and evaluates its own clips; every clip of the dataset is evaluated exactly once over all shards.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any, Callable, MutableMapping, Sequence

import torch

from speechbudget.axes import Config, ConfigError
from speechbudget.errors import DatasetError, OutputError, check_output_dir
from speechbudget.flops import estimate, feature_flops, training_flops
from speechbudget.geometry import SAMPLE_RATE
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.tasks.base import Shard
from speechbudget.tasks.ser.data import SerDataset, check_disjoint, load_dataset, speaker_folds
from speechbudget.tasks.ser.metrics import SerMetrics, fit_training_gflops, flops_for, \
    ser_metrics, ua_interval
from speechbudget.tasks.ser.checkpoint import load_checkpoint, save_checkpoint
from speechbudget.tasks.ser.adapt import is_frozen
from speechbudget.tasks.ser.features import predict_logits, prefix_layer, read_clips
from speechbudget.tasks.ser.model import TrainResult
from speechbudget.tasks.ser.options import TrainOptions
from speechbudget.tasks.ser.train import FitProgress, fit


class CheckpointNotSaved(OutputError):
    """`train` trained and scored, then could not write the checkpoint (a full disk, a folder made
    read-only meanwhile): exit 6 naming it, with what was computed in `result` (its `test`
    scores) so that the caller can still show it."""

    def __init__(self, message: str, result: TrainResult):
        super().__init__(message)
        self.result = result


# a clip whose logits are not all finite (an overflow in the features or the model): a failed
# item naming it, not a prediction of the first label with NaN probabilities
NON_FINITE = "{path}: the model's output for this clip is not finite (inf/NaN); not scored"


def _check_config(config: Config) -> None:
    if config.task != "ser":
        raise ConfigError("task", config.task, "'ser' for the SER task")


def fold_splits(dataset: SerDataset, folds: int, seed: int, fold: int
                ) -> tuple[list[str], list[str], list[str]]:
    """(train, validation, test) clip ids of fold `fold`: test = that fold, validation = the next
    fold, train = the rest (with 2 folds: no validation set). A fold outside 0..folds-1 is a
    ConfigError (exit 2), not an IndexError or, for a negative index, a speaker-overlap error."""
    parts = speaker_folds(dataset, folds, seed)
    if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < folds:
        raise ConfigError("fold", fold, f"an integer 0..{folds - 1} (one of the {folds} folds)")
    test = parts[fold]
    val = parts[(fold + 1) % folds] if folds > 2 else []
    train_ids = [i for j, p in enumerate(parts) if j != fold and (folds <= 2 or j != (fold + 1) % folds)
                 for i in p]
    check_disjoint(dataset, train=train_ids, validation=val, test=test)
    return train_ids, val, test


def _item_results(dataset: SerDataset, ids: Sequence[str], result_model, audio, skipped,
                  cache, inf_gflops: float | None, batch_size: int, fold: int | None = None,
                  progress: Callable[[int, int], None] | None = None) -> list[ItemResult]:
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
    for cid, reason in skipped:
        if cid in set(ids):
            c = dataset.get(cid)
            out.append(ItemResult(item_id=cid, ok=False, reference=c.label, error=reason,
                                  extra={"speaker": c.speaker, "fold": fold}))
    return out


def fold_gflops_bound(config: Config, options: TrainOptions, n_train: int, n_val: int,
                      n_test: int, n_classes: int) -> float:
    """At most what one fold of `config` costs in GFLOPs, before it runs (`sweep plan`'s time
    estimate): the fit's training FLOPs for all `options.epochs` (early stopping ends sooner), its
    feature passes (the frozen backbone on training + validation clips; a backbone that trains:
    the standardisation pass on the training clips), a validation pass through the whole model
    after every epoch of a backbone that trains, an LP-FT refit on training + validation as a
    second full run, then the held-out clips through the whole model."""
    opt = options.for_config(config)
    head = {"pooling": opt.pooling, "layer_weights": opt.layer_weights, "head": opt.head}
    inf = float(estimate(config, n_classes=n_classes, **head).total)
    frozen = is_frozen(config.adaptation)
    j = 0 if frozen else prefix_layer(config, opt, config.arch.is_whisper)
    runs = [(n_train, n_val)]
    if opt.head_init == "probe" and not frozen and n_val and opt.refit:
        runs.append((n_train + n_val, 0))
    total = n_test * inf
    for n_tr, n_va in runs:  # as metrics.fit_training_gflops counts a fit that ran every epoch
        total += feature_flops(config, n_classes) * (n_tr + n_va if frozen or j else n_tr)
        total += training_flops(config, n_tr, opt.epochs, n_classes, cached_prefix=j,
                                feature_clips=0, **head).total
        if not frozen:
            total += opt.epochs * n_va * inf
    return total / 1e9


class SerTask:
    """tasks.base.Task for SER: actor-disjoint k-fold cross-validation of a trained head."""

    name = "ser"

    def __init__(self, folds: int = 5, epochs: int = 60, seed: int = 0, batch_size: int = 16,
                 max_folds: int | None = None, source: str | None = None,
                 **train_options: Any):
        if folds < 2:
            raise ValueError(f"folds={folds}: need at least 2")
        self.folds, self.seed, self.max_folds, self.source = folds, seed, max_folds, source
        # frozen encoders loaded by this task, by (source, device), reused across folds and
        # configurations (as AsrTask keeps its model bundles); never modified
        self.encoders: dict[tuple[str, str], Any] = {}
        self.options = TrainOptions.from_dict({"epochs": epochs, "seed": seed,
                                               "batch_size": batch_size, "progress": False,
                                               **train_options})

    def load_dataset(self, source: str, audio_column: str | None = None,
                     label_column: str | None = None,
                     speaker_column: str | None = None,
                     audio_root: str | Path | None = None) -> SerDataset:
        """The dataset, read as `ser train` reads it with --audio-column ... --audio-root (a
        sweep file's `data: {path, audio_column, ...}`: sweep.spec_data)."""
        if audio_column is None and label_column is None and speaker_column is None:
            return load_dataset(source, audio_root=audio_root)
        from speechbudget.datasets import Columns
        return load_dataset(source, Columns(audio=audio_column, label=label_column,
                                            speaker=speaker_column), audio_root=audio_root)

    def shards(self, config: Config, dataset: SerDataset) -> list[Shard]:
        _check_config(config)
        parts = speaker_folds(dataset, self.folds, self.seed)
        n = len(parts) if self.max_folds is None else min(self.max_folds, len(parts))
        return [Shard(f"fold{i}of{self.folds}-seed{self.seed}", tuple(parts[i]),
                      {"fold": i, "speakers": sorted({dataset.get(c).speaker for c in parts[i]})})
                for i in range(n)]

    def result_version(self, config: Config) -> int:
        """The rule computing `config`'s items (speechbudget.sweep.driver.result_version): 2 for
        pool "attn" with stride > 1, whose token selection keeps a short clip's audio tokens
        since 59db9fa (before, it could keep only padding); 1 for everything else."""
        return 2 if config.pool == "attn" and config.stride > 1 else 1

    def planned_gflops(self, config: Config, dataset: SerDataset) -> float:
        """At most the GFLOPs that running `config` on `dataset` costs (every fold it runs: see
        `metrics.fold_gflops_bound`); `sweep plan` turns it into a time estimate."""
        _check_config(config)
        total = 0.0
        for shard in self.shards(config, dataset):
            train, val, test = fold_splits(dataset, self.folds, self.seed, shard.info["fold"])
            total += fold_gflops_bound(config, self.options, len(train), len(val), len(test),
                                       len(dataset.labels))
        return total

    def run_shard(self, config: Config, dataset: SerDataset, shard: Shard, device: str,
                  cache: MutableMapping | None = None) -> list[ItemResult]:
        _check_config(config)
        fold = int(shard.info.get("fold", shard.shard_id.split("of")[0].removeprefix("fold")))
        try:
            train_ids, val_ids, test_ids = fold_splits(dataset, self.folds, self.seed, fold)
            if tuple(test_ids) != tuple(shard.item_ids):
                raise ValueError(f"shard {shard.shard_id}: its items are not fold {fold} of "
                                 f"{dataset.source} (dataset changed since planning?)")
            t0 = time.perf_counter()
            result = fit(config, dataset, train_ids, val_ids, self.options, self.source, device,
                         cache, label=f"fold {fold}", encoders=self.encoders)
            train_s = time.perf_counter() - t0
        except Exception as e:  # noqa: BLE001 - a failed fold is recorded per item, never raised
            reason = f"fold {fold} training failed: {type(e).__name__}: {e}"
            return [ItemResult(item_id=i, ok=False, reference=dataset.get(i).label, error=reason,
                               extra={"fold": fold}) for i in shard.item_ids]
        audio, skipped = read_clips(dataset.subset(test_ids))
        unseen = untrained_labels([c for c in dataset.subset(test_ids) if c.id in audio],
                                  result.classes)
        if unseen:  # scored, all wrong, as `ser train` scores them; said as it says it
            n, which = _fmt_labels(unseen)
            warnings.warn(f"{config.label}: {dataset.source}: fold {fold} has {n} of a label no "
                          f"training clip has: {which}; the head cannot predict them (their "
                          f"recall, in UA, is 0)", stacklevel=2)
        opt = self.options.for_config(config)
        inf, _ = flops_for(config, n_classes=len(dataset.labels), pooling=opt.pooling,
                           layer_weights=opt.layer_weights, head=opt.head)
        train_gf = fit_training_gflops(result, opt, len(dataset.labels))
        # the held-out clips run through the whole model (no feature cache), so that the
        # recorded inference time (RTF) is the real cost of a prediction
        items = _item_results(dataset, test_ids, result.model, audio, skipped, None, inf,
                              self.options.eval_batch_size, fold)
        for it in items:
            it.timings["train_fold"] = train_s
            it.extra.update(train_gflops_fold=train_gf, best_epoch=result.best_epoch,
                            trainable_params=result.trainable_params)
        return items

    def aggregate(self, config: Config, results: Sequence[ItemResult]) -> ConfigMetrics:
        ok = [r for r in results if r.ok]
        failed = len(results) - len(ok)
        if not ok:
            return ConfigMetrics(config.key, "ser", "ua", float("nan"), n_items=0,
                                 n_failed=failed, extra={"reason": "no clip was evaluated"})
        labels = [lab for lab in _labels_of(results)]
        m = ser_metrics([r.reference for r in ok], [r.prediction for r in ok], labels)
        ci = ua_interval([r.reference for r in ok], [r.prediction for r in ok])
        folds = {r.extra.get("fold"): r for r in ok}
        train_gf = [r.extra.get("train_gflops_fold") for r in folds.values()]
        train_total = sum(train_gf) if train_gf and all(g is not None for g in train_gf) else None
        infer_s = sum(r.timings.get("inference", 0.0) for r in ok)
        audio_s = sum(min(r.audio_s or 0.0, float(config.window)) for r in ok)
        gf = ok[0].gflops
        return ConfigMetrics(
            config_key=config.key, task="ser", metric="ua", value=m.ua, ci_low=ci[0],
            ci_high=ci[1], n_items=len(ok), n_failed=failed, gflops=gf,
            gflops_per_audio_s=gf / float(config.window) if gf is not None else None,
            train_gflops=train_total,
            rtf=infer_s / (len(ok) * float(config.window)) if ok else None,
            rtfx=(len(ok) * float(config.window)) / infer_s if infer_s > 0 else None,
            timings={"inference": infer_s,
                     "train": sum(r.timings.get("train_fold", 0.0) for r in folds.values())},
            extra={"wa": m.wa, "macro_f1": m.macro_f1, "confusion": m.confusion,
                   "labels": m.labels, "folds": len(folds), "audio_s": audio_s})


def _labels_of(results: Sequence[ItemResult]) -> list[str]:
    from speechbudget.tasks.ser.data import LABELS
    seen = {r.reference for r in results} | {r.prediction for r in results if r.prediction}
    return [lab for lab in LABELS if lab in seen] + sorted(seen - set(LABELS) - {None})


# ---- plain API -------------------------------------------------------------------------------

def untrained_labels(clips: Sequence, trained: Sequence[str]) -> dict[str, int]:
    """{label: clips} of `clips` whose label is not in `trained` (the labels a head was fitted
    on): the head cannot predict them, so their recall, and their share of UA, is 0."""
    out: dict[str, int] = {}
    for c in clips:
        if c.label not in trained:
            out[c.label] = out.get(c.label, 0) + 1
    return dict(sorted(out.items()))


def _fmt_labels(counts: dict[str, int]) -> tuple[str, str]:
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


def _as_dataset(dataset: SerDataset | str | Path) -> SerDataset:
    return dataset if isinstance(dataset, SerDataset) else load_dataset(dataset)


def train(config: Config, dataset: SerDataset | str | Path, out_dir: str | Path,
          options: TrainOptions | None = None, device: str = "cpu", source: str | None = None,
          folds: int = 5, fold: int = 0, cache: MutableMapping | None = None,
          progress: FitProgress | None = None) -> TrainResult:
    """Train on all folds but `fold` (the next one for early stopping), score fold `fold`, and save
    a checkpoint (with the metrics and the held-out clip ids) in `out_dir`. `progress(done, total,
    phase)`: `fit`'s phases ("features", "epoch"), then "test" (held-out clips scored)."""
    _check_config(config)
    check_output_dir(out_dir, "checkpoint folder")  # before the work (exit 6), not after it
    ds = _as_dataset(dataset)
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
        n, which = _fmt_labels(unseen)
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
            "val_ids": val_ids, "fitted_files": clip_files(ds.subset(train_ids + val_ids)), "class_counts": ds.class_counts(ds.subset(train_ids)),
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
    ds = _as_dataset(dataset)
    clips = ds.items if ids is None else ds.subset(ids)
    bad = sorted({c.label for c in clips} - set(model.labels))
    if bad:
        raise DatasetError(f"{ds.source}: label {bad[0]!r} is not in the checkpoint's label set "
                           f"{model.labels}")
    trained = trained_labels(meta)
    unseen = {} if trained is None else untrained_labels(clips, trained)
    if unseen:
        n, which = _fmt_labels(unseen)
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
    items = _item_results(ds, [c.id for c in clips], model, audio, skipped, None, inf, batch_size,
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


def clip_files(clips: Sequence) -> list[str]:
    """The clips' audio files as absolute paths (what `fitted_clips` compares), sorted."""
    return sorted({str(Path(c.path).resolve()) for c in clips})


def fitted_clips(meta: dict[str, Any], dataset: SerDataset, clips: Sequence) -> list[str]:
    """The ids of those `clips` whose audio the checkpoint (its ser_config.json `meta`) trained or
    early-stopped on: its `fitted_files` (the same file, wherever the manifest lies); for a
    checkpoint saved without them, on the dataset it was trained on (the same path), every clip
    but its `test_ids`."""
    files = meta.get("fitted_files")
    if isinstance(files, list):
        fitted = set(files)
        return [c.id for c in clips if str(Path(c.path).resolve()) in fitted]
    test, source = meta.get("test_ids"), meta.get("dataset")
    if not isinstance(test, list) or not isinstance(source, str) or \
            Path(source).resolve() != Path(dataset.source).resolve():
        return []
    return [c.id for c in clips if c.id not in set(test)]
