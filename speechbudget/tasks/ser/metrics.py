"""SER metrics as in EmoBox: UA (balanced accuracy), WA (accuracy), macro-F1, confusion matrix,
with the configuration's inference and training FLOPs beside them."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score


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
    return SerMetrics(
        ua=float(balanced_accuracy_score(refs, hyps)),
        wa=float(accuracy_score(refs, hyps)),
        macro_f1=float(f1_score(refs, hyps, labels=present, average="macro", zero_division=0)),
        confusion=confusion_matrix(refs, hyps, labels=list(labels)).tolist(),
        labels=list(labels), n=len(refs))


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
    """Training GFLOPs of a fit (a tasks.ser.train.TrainResult trained with `options`): its own
    epochs plus, for LP-FT (head_init "probe"), those of the frozen probe it started from and of
    the run that chose its epochs before the refit."""
    config = result.config if result.config is not None else result.model.config
    _, total = flops_for(config, result.n_train, result.epochs_run, n_classes,
                         options.pooling, options.layer_weights, options.head)
    for part in (result.probe, result.selection):
        if part is None or total is None:
            continue
        g = fit_training_gflops(part, options, n_classes)
        total = None if g is None else total + g
    return total
