"""Choosing the linear head's inverse L2 strength C (pure: arrays in, choice out).

    by "validation":  for C in grid: fit on the training rows, UA on the validation rows
    by "actors":      rows = training (+ validation, when the chosen C is refitted on them);
                      k = min(cv_folds, number of actors) folds, no actor in two folds (GroupKFold)
                      for C in grid: for each fold: fit on the other folds, predict this one
                                     UA of the pooled out-of-fold predictions
    choice:           the best score; among equal scores the smallest C (the strongest
                      regularisation)
    score "ua":       the UA of the held-out predictions (thresholded: on a few actors' clips it
                      moves in steps and ties are common, and ties go to the smallest C)
    score "log-loss": minus the class-balanced log-loss of the held-out probabilities,
                      -mean_k mean_{i: y_i = k} log p(y_i | x_i), p clipped at 1e-15 (a proper,
                      continuous score weighted per class as UA is, so it rarely ties)

"actors" scores every candidate on every actor the head may train on, one actor group at a time,
instead of on one validation split of a few actors, so a choice rests on more held-out speakers.
A choice at an end of the grid is flagged (`at_edge`): the best C may lie beyond it.

Every fit may run in the row space of the rows it could be fitted on (`row_space`): with n rows of
d > n features, X = U S V^T, the L2-penalised optimum w* = -C X^T r (r: the loss gradient per
row) lies in the span of V, and ||V z|| = ||z||, so fitting on Z = X V (n x n) and mapping back,
w = V z, is the same problem; 9-11x faster on 360 clips of 1920-3584 features
(benchmarks/ser_linear_rowspace.py). Solutions agree within the solver's tolerance.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

SELECTIONS = ("validation", "actors")
SCORES = ("ua", "log-loss")


def fit_logreg(c: float, x: np.ndarray, y: Sequence[str], seed: int):
    """Multinomial L2 LogisticRegression (lbfgs, balanced class weights); returns (model, rows
    visited: iterations x rows, for the training FLOPs)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=c, max_iter=1000, class_weight="balanced", random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, list(y))
    return clf, int(np.max(clf.n_iter_)) * len(x)


def row_space(x: np.ndarray) -> np.ndarray | None:
    """An orthonormal basis V [d, r] of the span of the rows of x [n, d]; None when n >= d (the
    original space is then no larger)."""
    n, d = x.shape
    if n >= d:
        return None
    _, _, vt = np.linalg.svd(np.asarray(x, dtype=np.float64), full_matrices=False)
    return vt.T


@dataclass
class Choice:
    c: float
    method: str                    # "validation" or "actors"
    history: list[dict[str, Any]] = field(default_factory=list)  # one row per C tried
    rows: int = 0                  # rows visited by every fit made to choose
    refs: list[str] = field(default_factory=list)   # the held-out labels the choice was scored on
    preds: list[str] = field(default_factory=list)  # the chosen C's predictions of them
    model: Any = None              # "validation": the chosen C's fit on the training rows

    @property
    def at_edge(self) -> bool:
        tried = sorted(h["C"] for h in self.history)
        return len(tried) > 1 and self.c in (tried[0], tried[-1])


def _best(scored: list[tuple[float, float]]) -> float:
    """(C, score) pairs -> the C of the highest score, the smallest C among ties."""
    top = max(ua for _, ua in scored)
    return min(c for c, ua in scored if ua == top)


def _ua(refs: Sequence[str], preds: Sequence[str], labels: Sequence[str]) -> float:
    from speechbudget.tasks.ser.metrics import ser_metrics
    return ser_metrics(list(refs), list(preds), list(labels)).ua


def balanced_log_loss(refs: Sequence[str], proba: np.ndarray, classes: Sequence[str]) -> float:
    """Class-balanced log-loss: the mean over the classes present in refs of the mean
    -log p(ref | x) of their rows; proba [n, len(classes)], a ref outside classes has p = 0."""
    col = {c: i for i, c in enumerate(classes)}
    p = np.array([proba[i, col[r]] if r in col else 0.0 for i, r in enumerate(refs)])
    nll = -np.log(np.clip(p, 1e-15, 1.0))
    refs = np.asarray(refs, dtype=object)
    return float(np.mean([nll[refs == k].mean() for k in dict.fromkeys(refs)]))


def _record(refs, preds, proba, classes, labels, prefix: str, score: str
            ) -> tuple[dict[str, float], float]:
    """The held-out UA and log-loss of one candidate, keyed `prefix`_ua / `prefix`_log_loss, and
    the one of them `score` maximises (minus the log-loss)."""
    rec = {f"{prefix}_ua": _ua(refs, preds, labels),
           f"{prefix}_log_loss": balanced_log_loss(refs, proba, classes)}
    return rec, rec[f"{prefix}_ua"] if score == "ua" else -rec[f"{prefix}_log_loss"]


def by_validation(grid: Sequence[float], xtr, ytr, xva, yva, labels, seed: int,
                  score: str = "ua") -> Choice:
    fits, scored, choice = {}, [], Choice(c=0.0, method="validation")
    for c in grid:
        clf, rows = fit_logreg(c, xtr, ytr, seed)
        choice.rows += rows
        proba = clf.predict_proba(xva)
        pred = list(clf.classes_[proba.argmax(1)])
        fits[c] = (clf, pred)
        rec, value = _record(yva, pred, proba, clf.classes_, labels, "val", score)
        scored.append((c, value))
        choice.history.append({"C": c, **rec})
    choice.c = _best(scored)
    choice.model, choice.preds = fits[choice.c]
    choice.refs = list(yva)
    return choice


def by_actors(grid: Sequence[float], x, y, actors: Sequence[str], labels, seed: int,
              cv_folds: int = 5, score: str = "ua") -> Choice | None:
    """Grouped cross-validation over the actors of the rows; None with fewer than two actors."""
    from sklearn.model_selection import GroupKFold

    k = min(cv_folds, len(set(actors)))
    if k < 2:
        return None
    y = np.asarray(y, dtype=object)
    splits = list(GroupKFold(n_splits=k).split(x, y, list(actors)))
    classes = sorted(set(y))
    scored, preds, choice = [], {}, Choice(c=0.0, method="actors", refs=list(y))
    for c in grid:
        pred = np.empty(len(y), dtype=object)
        proba = np.zeros((len(y), len(classes)))
        for tr, te in splits:
            clf, rows = fit_logreg(c, x[tr], y[tr], seed)
            choice.rows += rows
            p = clf.predict_proba(x[te])
            pred[te] = clf.classes_[p.argmax(1)]
            proba[np.ix_(te, [classes.index(k) for k in clf.classes_])] = p
        preds[c] = list(pred)
        rec, value = _record(y, preds[c], proba, classes, labels, "cv", score)
        scored.append((c, value))
        choice.history.append({"C": c, **rec, "cv_folds": k})
    choice.c = _best(scored)
    choice.preds = preds[choice.c]
    return choice
