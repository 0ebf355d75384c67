"""A fitted law's quality and uncertainty by refitting on resampled configurations: the
leave-one-configuration-out prediction error, and a bootstrap over configurations of the
parameters (std and 2.5 / 97.5 % percentiles)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from speechbudget.analysis.scaling_law import MIN_ERROR, Law, log_pred, params_from_theta
from speechbudget.analysis.scaling_solver import polish


@dataclass
class LeaveOneOut:
    predictions: np.ndarray      # error predicted for each point by the fit without it
    mae: float                   # mean |predicted - measured| (error units, e.g. WER)
    mape: float                  # mean |predicted - measured| / measured
    rmse_log: float              # root mean square of log(predicted / measured)


@dataclass
class Bootstrap:
    n: int
    std: dict[str, float]
    low: dict[str, float]        # 2.5 % percentile
    high: dict[str, float]       # 97.5 % percentile
    samples: np.ndarray          # [n, n_params] reported parameters


def leave_one_out(law: Law, theta: np.ndarray, X: np.ndarray, logy: np.ndarray,
                  y: np.ndarray) -> LeaveOneOut:
    """Each point predicted by the fit (polished from `theta`) with that point's weight 0."""
    preds = np.empty(len(y))
    for i in range(len(y)):
        w = np.ones(len(y))
        w[i] = 0.0  # weight 0 == left out
        th, _ = polish(law, theta, X, logy, w)
        preds[i] = math.exp(log_pred(law, th, X[i:i + 1])[0])
    err = np.abs(preds - y)
    with np.errstate(divide="ignore"):
        rel = err / np.maximum(y, MIN_ERROR)
    return LeaveOneOut(preds, float(err.mean()), float(rel.mean()),
                       float(np.sqrt(np.mean((np.log(preds) - logy) ** 2))))


def bootstrap(law: Law, theta: np.ndarray, X: np.ndarray, logy: np.ndarray, ref: np.ndarray,
              n: int, seed: int) -> Bootstrap:
    """`n` refits on configurations drawn with replacement (seeded), as reported parameters."""
    rng = np.random.default_rng(seed)
    samples = np.empty((n, law.n_params))
    for b in range(n):
        w = np.bincount(rng.integers(0, len(logy), len(logy)), minlength=len(logy)).astype(float)
        th, _ = polish(law, theta, X, logy, w)
        samples[b] = list(params_from_theta(law, th, ref).values())
    names = law.param_names
    # one draw has no spread to estimate (std nan, without numpy's ddof warning)
    return Bootstrap(n, {k: float(samples[:, i].std(ddof=1)) if n > 1 else math.nan
                         for i, k in enumerate(names)},
                     {k: float(np.percentile(samples[:, i], 2.5)) for i, k in enumerate(names)},
                     {k: float(np.percentile(samples[:, i], 97.5)) for i, k in enumerate(names)},
                     samples)
