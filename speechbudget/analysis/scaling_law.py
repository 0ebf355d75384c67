"""The scaling laws' forms and their evaluation (pure arithmetic, no fitting).

Laws (N = parameters, T = window seconds, s = token stride):
  additive  err = E + A / N^alpha + B / T^beta + C * s^gamma
  product   err = E + K * N^-alpha * T^-beta * s^gamma       (Li et al. 2024's (A/N^a)(B/T^b) + D,
                                                             with A*B = K, plus the stride)
Each term is exp(log-scale + sum(+-exponent * log x)); the prediction is the log-sum-exp of the
terms. Internally log x is centred on the data's geometric mean (`ref`) to condition the fit;
`params_from_theta` / `theta_from_params` convert between those centred parameters and the law's
parameters on the original axes. Exponents lie in EXP_BOUNDS: more N or T never hurts, a coarser
stride never helps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from speechbudget.errors import SpeechbudgetError

AXIS_NAMES = ("N", "T", "s")           # feature columns: log N, log T, log s
EXP_BOUNDS = (0.0, 4.0)
MIN_ERROR = 1e-6                        # errors of exactly 0 are floored (log space)
LAWS = ("additive", "product")


class FitError(SpeechbudgetError, ValueError):
    """The data cannot support the fit (too few points, nothing varies, bad values)."""


@dataclass(frozen=True)
class Law:
    """A law as terms z_k = theta[scale] + sum(sign * theta[exp] * (log x_col - ref_col))."""

    kind: str
    param_names: tuple[str, ...]            # reported names: scales, then exponents as named
    scale_idx: tuple[int, ...]              # which theta entries are log-scales
    terms: tuple[tuple[int, tuple[tuple[int, int, int], ...]], ...]  # (scale, ((exp, col, sign),))
    formula: str

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    @property
    def exp_idx(self) -> tuple[int, ...]:
        return tuple(i for i in range(self.n_params) if i not in self.scale_idx)


def make_law(kind: str, active: Sequence[bool] = (True, True, True)) -> Law:
    """The law `kind` ("additive" | "product") with terms only for the axes that vary."""
    aN, aT, aS = active
    if kind == "additive":
        names, scales, terms, parts = ["E"], [0], [(0, ())], ["E"]
        for on, (sc, ex, col, sign, txt) in zip(active, (("A", "alpha", 0, -1, "A/N^alpha"),
                                                          ("B", "beta", 1, -1, "B/T^beta"),
                                                          ("C", "gamma", 2, +1, "C*s^gamma"))):
            if on:
                i = len(names)
                names += [sc, ex]
                scales.append(i)
                terms.append((i, ((i + 1, col, sign),)))
                parts.append(txt)
        return Law(kind, tuple(names), tuple(scales), tuple(terms), " + ".join(parts))
    if kind == "product":
        names, factors, parts = ["E", "K"], [], []
        for on, (ex, col, sign, txt) in zip(active, (("alpha", 0, -1, "N^-alpha"),
                                                     ("beta", 1, -1, "T^-beta"),
                                                     ("gamma", 2, +1, "s^gamma"))):
            if on:
                factors.append((len(names), col, sign))
                names.append(ex)
                parts.append(txt)
        formula = "E + K*" + "*".join(parts) if parts else "E + K"
        return Law(kind, tuple(names), (0, 1), ((0, ()), (1, tuple(factors))), formula)
    raise FitError(f"unknown law {kind!r}: expected 'additive' or 'product'")


def features(N: Any, T: Any, s: Any) -> np.ndarray:
    """[n, 3] columns log N, log T, log s (scalars broadcast)."""
    N, T, s = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (N, T, s))
    N, T, s = np.broadcast_arrays(N, T, s)
    return np.log(np.stack([N, T, s], axis=1))


def terms(law: Law, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
    """z[i, k] for every point i and term k (X: centred log features)."""
    z = np.empty((X.shape[0], len(law.terms)))
    for k, (sc, factors) in enumerate(law.terms):
        z[:, k] = theta[sc]
        for ex, col, sign in factors:
            z[:, k] += sign * theta[ex] * X[:, col]
    return z


def log_pred(law: Law, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
    """log of the predicted error at each point: the log-sum-exp of its terms."""
    z = terms(law, theta, X)
    m = z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]


def params_from_theta(law: Law, theta: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Internal (centred) parameters -> the law's parameters on the original axes."""
    out = {}
    for sc, factors in law.terms:
        out[law.param_names[sc]] = math.exp(theta[sc] - sum(sign * theta[ex] * ref[col]
                                                            for ex, col, sign in factors))
    for i in law.exp_idx:
        out[law.param_names[i]] = float(theta[i])
    return {n: out[n] for n in law.param_names}


def theta_from_params(law: Law, params: dict[str, float], ref: np.ndarray) -> np.ndarray:
    """The law's parameters on the original axes -> internal (centred) parameters."""
    theta = np.zeros(law.n_params)
    for i in law.exp_idx:
        theta[i] = params[law.param_names[i]]
    for sc, factors in law.terms:
        theta[sc] = math.log(max(params[law.param_names[sc]], 1e-300)) + sum(
            sign * theta[ex] * ref[col] for ex, col, sign in factors)
    return theta
