"""SER metrics as in EmoBox: UA (balanced accuracy), WA (accuracy), macro-F1, confusion matrix,
with the configuration's inference and training FLOPs beside them."""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

from speechbudget.paired import corpus_error


@dataclass
class SerMetrics:
    ua: float
    wa: float
    macro_f1: float
    confusion: list[list[int]]  # rows: reference, columns: prediction, in `labels` order
    labels: list[str]
    n: int
    inference_gflops: float | None = None  # per clip
    train_gflops: float | None = None      # whole training run
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ser_metrics(references: Sequence[str], predictions: Sequence[str], labels: Sequence[str]
                ) -> SerMetrics:
    """UA/WA/macro-F1 over the classes present in the references (sklearn's definitions) and the
    confusion matrix over all `labels`."""
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions")
    if not references:
        raise ValueError("no predictions to score")
    unknown = sorted(set(references) - set(labels))
    if unknown:
        raise ValueError(f"reference label {unknown[0]!r} not in the label set {list(labels)}")
    refs, hyps = np.asarray(references), np.asarray(predictions)
    present = [lab for lab in labels if lab in set(references)]
    with warnings.catch_warnings():  # sklearn's notes on clip sets that are normal here,
        # reaching `ser eval` and sweeps as warning lines no user can act on: clips of one label
        # all predicted as it ("A single label was found in 'y_true' and 'y_pred' ... use the
        # 'labels' parameter"; UA 1.0, exact), and a prediction of a label no clip has ("y_pred
        # contains classes not in y_true": a dataset of fewer emotions; UA averages the recall
        # of the labels the clips have, as documented)
        warnings.filterwarnings("ignore", message="A single label was found",
                                category=UserWarning)
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true",
                                category=UserWarning)
        ua = float(balanced_accuracy_score(refs, hyps))
    return SerMetrics(
        ua=ua,
        wa=float(accuracy_score(refs, hyps)),
        macro_f1=float(f1_score(refs, hyps, labels=present, average="macro", zero_division=0)),
        confusion=confusion_matrix(refs, hyps, labels=list(labels)).tolist(),
        labels=list(labels), n=len(refs))


def ua_of_draws(references: Sequence[str], predictions: Sequence[str],
                draws: np.ndarray) -> np.ndarray:
    """The UA of each resample of the clips: draws [..., n] indexes the clips (row k: one draw,
    with replacement); the UA by speechbudget.paired.corpus_error (classes absent from a draw are
    left out, as balanced_accuracy_score does)."""
    refs = np.asarray(references)
    codes = {c: i for i, c in enumerate(sorted(set(refs.tolist())))}
    y = np.array([codes[r] for r in refs.tolist()], dtype=float)
    wrong = (refs != np.asarray(predictions)).astype(float)
    return 1 - corpus_error(wrong[draws], np.ones(draws.shape), y[draws], axis=-1)


def ua_interval(references: Sequence[str], predictions: Sequence[str], n: int = 1000,
                seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of UA over clips: n draws of the clips with replacement
    (seeded), the UA of each by `ua_of_draws`."""
    draws = np.random.default_rng(seed).integers(0, len(references), (n, len(references)))
    ua = ua_of_draws(references, predictions, draws)
    return float(np.percentile(ua, 2.5)), float(np.percentile(ua, 97.5))


def flops_for(config, n_train_clips: int | None = None, epochs: int | None = None,
              n_classes: int = 6, pooling: str = "mean", layer_weights: bool = True,
              head: str = "mlp") -> tuple[float | None, float | None]:
    """(inference GFLOPs per clip, training GFLOPs) from speechbudget.flops for this head; None
    where the FLOPs part is not available."""
    try:
        from speechbudget.flops import estimate, training_flops
    except ImportError:
        return None, None
    head = {"pooling": pooling, "layer_weights": layer_weights, "head": head}
    inf = float(estimate(config, n_classes=n_classes, **head).gflops)
    train = None
    if n_train_clips is not None and epochs is not None:
        train = float(training_flops(config, n_train_clips, epochs, n_classes=n_classes,
                                     **head).gflops)
    return inf, train


def fit_training_gflops(result, options, n_classes: int) -> float | None:
    """Training GFLOPs of a fit (a tasks.ser.model.TrainResult trained with `options`), counting
    what it ran: the frozen backbone's forward once for every clip it passed through it
    (features, the standardisation statistics, a cached prefix; shared by the LP-FT probe, the
    selection run and the refit: `feature_ids`), plus each run's own epochs (for LP-FT, those of
    the frozen probe it started from and of the run that chose its epochs before the refit)."""
    try:
        from speechbudget.flops import feature_flops, training_flops
    except ImportError:
        return None
    runs, todo = [], [result]
    while todo:
        r = todo.pop()
        runs.append(r)
        todo += [p for p in (r.probe, r.selection) if p is not None]
    config = result.config if result.config is not None else result.model.config
    options = options.for_config(config)
    ids = frozenset().union(*(r.feature_ids for r in runs))
    total = feature_flops(config, n_classes) * len(ids)
    for r in runs:
        c = r.config if r.config is not None else r.model.config
        total += training_flops(c, r.n_train, r.epochs_run, n_classes, pooling=options.pooling,
                                layer_weights=options.layer_weights, head=options.head,
                                cached_prefix=r.prefix, feature_clips=0).total
    return total / 1e9
