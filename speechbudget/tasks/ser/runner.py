"""SER as a speechbudget Task: shards are speaker-disjoint folds. Each fold-shard trains on the
other folds (the next fold, cyclically, held out for early stopping) and evaluates its own clips;
every clip of the dataset is evaluated exactly once over all shards. The plain API (`train`,
`evaluate`) is speechbudget.tasks.ser.api.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any, MutableMapping, Sequence

from speechbudget.axes import Config, ConfigError
from speechbudget.flops import estimate, feature_flops, training_flops
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.tasks.base import Shard
from speechbudget.tasks.ser.adapt import is_frozen
from speechbudget.tasks.ser.data import SerDataset, check_disjoint, load_dataset, speaker_folds
from speechbudget.tasks.ser.features import prefix_layer, read_clips
from speechbudget.tasks.ser.metrics import fit_training_gflops, flops_for, ser_metrics, \
    ua_interval
from speechbudget.tasks.ser.options import TrainOptions
from speechbudget.tasks.ser.scoring import describe_labels, item_results, untrained_labels
from speechbudget.tasks.ser.train import fit


def check_config(config: Config) -> None:
    """A ConfigError (exit 2) unless `config` is a SER configuration."""
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
    held = {fold, (fold + 1) % folds} if folds > 2 else {fold}
    train_ids = [i for j, p in enumerate(parts) if j not in held for i in p]
    check_disjoint(dataset, train=train_ids, validation=val, test=test)
    return train_ids, val, test




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
        check_config(config)
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
        `fold_gflops_bound`); `sweep plan` turns it into a time estimate."""
        check_config(config)
        total = 0.0
        for shard in self.shards(config, dataset):
            train, val, test = fold_splits(dataset, self.folds, self.seed, shard.info["fold"])
            total += fold_gflops_bound(config, self.options, len(train), len(val), len(test),
                                       len(dataset.labels))
        return total

    def run_shard(self, config: Config, dataset: SerDataset, shard: Shard, device: str,
                  cache: MutableMapping | None = None) -> list[ItemResult]:
        check_config(config)
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
            n, which = describe_labels(unseen)
            warnings.warn(f"{config.label}: {dataset.source}: fold {fold} has {n} of a label no "
                          f"training clip has: {which}; the head cannot predict them (their "
                          f"recall, in UA, is 0)", stacklevel=2)
        opt = self.options.for_config(config)
        inf, _ = flops_for(config, n_classes=len(dataset.labels), pooling=opt.pooling,
                           layer_weights=opt.layer_weights, head=opt.head)
        train_gf = fit_training_gflops(result, opt, len(dataset.labels))
        # the held-out clips run through the whole model (no feature cache), so that the
        # recorded inference time (RTF) is the real cost of a prediction
        items = item_results(dataset, test_ids, result.model, audio, skipped, None, inf,
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
        m = ser_metrics([r.reference for r in ok], [r.prediction for r in ok],
                        _labels_of(results))
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
