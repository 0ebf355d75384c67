"""Scaling-law fit of error against the axes (Chinchilla's approach 3, Hoffmann et al. 2022).

Laws (N = parameters, T = window seconds, s = token stride):
  additive  err = E + A / N^alpha + B / T^beta + C * s^gamma
  product   err = E + K * N^-alpha * T^-beta * s^gamma       (Li et al. 2024's (A/N^a)(B/T^b) + D,
                                                             with A*B = K, plus the stride)
Each term is exp(log-scale + sum(+-exponent * log x)); the prediction is the log-sum-exp of the
terms, compared with log(err) under a Huber loss (delta 1e-3, as Chinchilla) and minimised by
L-BFGS-B (exponents bounded to [0, 4]: more N or T never hurts, a coarser stride never helps).
Starts: for a grid of exponents the scales enter linearly, so each grid point gets its scales by
non-negative least squares (relative errors); the best few grid points start L-BFGS, and the
lowest final loss wins. log x is centred on the data's geometric mean to condition the problem.

Identifiability (the fit refuses what the data cannot pin down):
- an axis with fewer than MIN_DISTINCT (3) distinct values has no identifiable power law (two
  values fix a slope, not a scale, an exponent and an offset): its term (additive) or exponent
  (product) is dropped and the fit says so;
- a law is fitted only with at least MIN_POINTS_PER_PARAM (3) configurations per parameter;
  fewer raise FitError naming the counts;
- a parameter at a bound of its range (an exponent at 0 or 4), a scale whose term is below
  MIN_TERM_SHARE (0.1 %) of the error at every fitted point (the term vanished), or one whose
  bootstrap 95 % interval spans more than MAX_CI_RATIO (100x, two orders of magnitude), is
  listed in `unidentified`;
- `prediction_refusal()` says why predictions are not to be shown (unidentified parameters, no
  leave-one-out check, or a leave-one-configuration-out MAPE above MAX_LOO_MAPE, 10 %), else None.
Nested laws compared (`compare_nested`, `fit_results_nested`): within one kind of law, every law
that keeps the terms of a non-empty subset of the identifiable axes (the full law, each axis
term dropped, ...) is fitted where the data allow it (the points-per-parameter rule; a law the
data cannot support is listed with the reason). Each fitted law gets its leave-one-configuration-
out MAPE and the BIC of its log residuals (n ln(RSS/n) + k ln n). The law kept is *the simplest
adequate one*: among the laws whose parameters are all identified (if none is, among all),
those with a LOO MAPE within NESTED_REL_MARGIN (10 %) relative plus NESTED_ABS_MARGIN (0.2
points of MAPE) of the best LOO MAPE are adequate, and the one with the fewest parameters is
kept (ties: lower BIC). `NestedComparison.reason` says which and why.
Quality is the leave-one-configuration-out prediction error; parameter uncertainty is a
bootstrap over configurations. Predictions for configurations that were not run are `Prediction`
objects, always marked predicted, never ConfigMetrics. Numbers are reported to 3 significant
figures.
"""
from __future__ import annotations

from speechbudget.errors import SpeechbudgetError

import itertools
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Sequence

import numpy as np
from scipy.optimize import minimize, nnls

from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics

Results = list[tuple[Config, ConfigMetrics]]
AXIS_NAMES = ("N", "T", "s")           # feature columns: log N, log T, log s
HUBER_DELTA = 1e-3
EXP_BOUNDS = (0.0, 4.0)
START_GRID = (0.05, 0.15, 0.3, 0.5, 0.8, 1.2, 2.0)
N_STARTS = 6
MIN_ERROR = 1e-6                        # errors of exactly 0 are floored (log space)
MIN_DISTINCT = 3                        # distinct values an axis needs for its term
MIN_POINTS_PER_PARAM = 3                # configurations per fitted parameter
MAX_CI_RATIO = 100.0                    # bootstrap 97.5 % / 2.5 % beyond this: unidentified
MAX_LOO_MAPE = 0.10                     # predictions shown only below this LOO error
BOUND_TOL = 1e-3                        # an exponent this close to a bound is "at the bound"
MIN_TERM_SHARE = 1e-3                   # a term below this share of the error everywhere vanished
NESTED_REL_MARGIN = 0.10                # a nested law is adequate within 10 % of the best LOO
NESTED_ABS_MARGIN = 0.002               # ... plus 0.2 points of MAPE


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


LAWS = ("additive", "product")


# ---- the objective --------------------------------------------------------------------------
def _terms(law: Law, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
    """z[i, k] for every point i and term k (X: centred log features)."""
    z = np.empty((X.shape[0], len(law.terms)))
    for k, (sc, factors) in enumerate(law.terms):
        z[:, k] = theta[sc]
        for ex, col, sign in factors:
            z[:, k] += sign * theta[ex] * X[:, col]
    return z


def _log_pred(law: Law, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
    z = _terms(law, theta, X)
    m = z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]


def _loss_grad(theta: np.ndarray, law: Law, X: np.ndarray, logy: np.ndarray,
               w: np.ndarray) -> tuple[float, np.ndarray]:
    z = _terms(law, theta, X)
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    r = (m + np.log(s))[:, 0] - logy
    soft = e / s
    a = np.abs(r)
    d = HUBER_DELTA
    loss = np.where(a <= d, 0.5 * r * r, d * (a - 0.5 * d)) / d
    psi = np.clip(r, -d, d) / d * w
    grad = np.zeros_like(theta)
    for k, (sc, factors) in enumerate(law.terms):
        g = psi * soft[:, k]
        grad[sc] += g.sum()
        for ex, col, sign in factors:
            grad[ex] += (g * sign * X[:, col]).sum()
    return float((loss * w).sum()), grad


def _bounds(law: Law) -> list[tuple[float | None, float | None]]:
    return [(None, None) if i in law.scale_idx else EXP_BOUNDS for i in range(law.n_params)]


def _polish(law: Law, theta0: np.ndarray, X: np.ndarray, logy: np.ndarray,
            w: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    w = np.ones(len(logy)) if w is None else w
    res = minimize(_loss_grad, theta0, args=(law, X, logy, w), jac=True, method="L-BFGS-B",
                   bounds=_bounds(law), options={"maxiter": 3000, "ftol": 1e-15, "gtol": 1e-12})
    return res.x, float(res.fun)


def _grid_starts(law: Law, X: np.ndarray, y: np.ndarray, n_starts: int) -> list[np.ndarray]:
    """Exponent grid; scales by NNLS on relative error for each grid point; best n_starts."""
    exps = law.exp_idx
    cands = []
    for combo in itertools.product(START_GRID, repeat=len(exps)):
        theta = np.zeros(law.n_params)
        theta[list(exps)] = combo
        F = np.exp(_terms(law, theta, X))  # each term with log-scale 0
        coef, _ = nnls(F / y[:, None], np.ones_like(y))
        theta[list(law.scale_idx)] = np.log(np.maximum(coef, 1e-12))
        rel = F @ coef / y - 1.0
        cands.append((float(np.abs(rel).sum()), combo, theta))
    cands.sort(key=lambda c: (c[0], c[1]))
    return [c[2] for c in cands[:n_starts]]


# ---- results ----------------------------------------------------------------------------------
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


@dataclass
class ScalingFit:
    law: Law
    params: dict[str, float]             # reported: E, A, alpha, ...
    theta: np.ndarray                    # internal (centred log-scales, exponents)
    ref: np.ndarray                      # centring of log N, log T, log s
    active: tuple[bool, bool, bool]
    N: np.ndarray
    T: np.ndarray
    s: np.ndarray
    y: np.ndarray                        # measured errors
    loss: float
    labels: list[str] = field(default_factory=list)
    loo: LeaveOneOut | None = None
    bootstrap: Bootstrap | None = None
    notes: list[str] = field(default_factory=list)
    excluded: list[tuple[str, str]] = field(default_factory=list)   # (label, why)
    configs: list[Config] = field(default_factory=list)             # fitted, when from results
    unidentified: dict[str, str] = field(default_factory=dict)      # parameter -> why

    def prediction_refusal(self, max_loo_mape: float = MAX_LOO_MAPE) -> str | None:
        """Why the fit's predictions are not to be shown, or None when they may be."""
        if self.unidentified:
            return ("not identified: " + "; ".join(f"{k} {v}" for k, v in
                                                    self.unidentified.items()))
        if self.loo is None:
            return "no leave-one-configuration-out check was run"
        if not self.loo.mape <= max_loo_mape:
            return (f"leave-one-configuration-out error {100 * self.loo.mape:.2g}% is above the "
                    f"{100 * max_loo_mape:.2g}% threshold")
        return None

    @property
    def formula(self) -> str:
        return self.law.formula

    @property
    def fitted(self) -> np.ndarray:
        return self.predict(self.N, self.T, self.s)

    def predict(self, N: Any, T: Any, s: Any) -> np.ndarray:
        X = _features(N, T, s) - self.ref
        return np.exp(_log_pred(self.law, self.theta, X))

    def summary(self) -> str:
        ps = ", ".join(f"{k}={v:.3g}" + (" (unidentified)" if k in self.unidentified else "")
                       for k, v in self.params.items())
        loo = "" if self.loo is None else (f"; leave-one-out MAE {self.loo.mae:.3g}, "
                                           f"MAPE {100 * self.loo.mape:.2g}%")
        return f"err = {self.formula} with {ps} ({len(self.y)} configurations{loo})"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"law": self.law.kind, "formula": self.formula, "params": self.params,
                             "n_points": int(len(self.y)), "loss": self.loss, "notes": self.notes,
                             "excluded": [list(e) for e in self.excluded],
                             "unidentified": self.unidentified,
                             "prediction_refusal": self.prediction_refusal()}
        if self.loo is not None:
            d["leave_one_out"] = {"mae": self.loo.mae, "mape": self.loo.mape,
                                  "rmse_log": self.loo.rmse_log}
        if self.bootstrap is not None:
            d["bootstrap"] = {"n": self.bootstrap.n, "std": self.bootstrap.std,
                              "low": self.bootstrap.low, "high": self.bootstrap.high}
        return d


def _features(N: Any, T: Any, s: Any) -> np.ndarray:
    N, T, s = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (N, T, s))
    N, T, s = np.broadcast_arrays(N, T, s)
    return np.log(np.stack([N, T, s], axis=1))


def _report(law: Law, theta: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Internal (centred) parameters -> the law's parameters on the original axes."""
    out = {}
    for k, (sc, factors) in enumerate(law.terms):
        out[law.param_names[sc]] = math.exp(theta[sc] - sum(sign * theta[ex] * ref[col]
                                                            for ex, col, sign in factors))
    for i in law.exp_idx:
        out[law.param_names[i]] = float(theta[i])
    return {n: out[n] for n in law.param_names}


def fit_law(N: Sequence[float], T: Sequence[float], s: Sequence[float], y: Sequence[float],
            law: str = "additive", loo: bool = True, n_bootstrap: int = 0, seed: int = 0,
            labels: Sequence[str] | None = None, n_starts: int = N_STARTS,
            min_distinct: int = MIN_DISTINCT,
            min_points_per_param: int = MIN_POINTS_PER_PARAM,
            axes: Sequence[str] | None = None) -> ScalingFit:
    """Fit `law` to errors `y` at parameters N, windows T (s), strides s. Arrays of equal length.
    Axes with fewer than `min_distinct` values get no term; fewer than `min_points_per_param`
    configurations per parameter raise FitError. `axes` (a subset of "N", "T", "s"): keep terms
    only for these (a nested law); default all that the data identify."""
    Xraw = _features(N, T, s)
    y = np.asarray(y, dtype=float)
    if y.ndim != 1 or len(y) != len(Xraw):
        raise FitError(f"N, T, s and errors must have the same length (got {len(Xraw)} and "
                       f"{y.shape})")
    if not np.all(np.isfinite(Xraw)):
        raise FitError("N, T and s must be finite and > 0")
    if not np.all(np.isfinite(y)) or np.any(y < 0):
        raise FitError("errors must be finite and >= 0")
    notes = []
    if np.any(y < MIN_ERROR):
        notes.append(f"{int(np.sum(y < MIN_ERROR))} error(s) of 0 floored to {MIN_ERROR:g} "
                     "for the log-space fit")
    yf = np.maximum(y, MIN_ERROR)
    distinct = [len(np.unique(np.round(Xraw[:, j], 9))) for j in range(3)]
    active = tuple(d >= min_distinct for d in distinct)
    if axes is not None:
        bad = [a for a in axes if a not in AXIS_NAMES]
        if bad:
            raise FitError(f"unknown axis {bad[0]!r}: expected a subset of {', '.join(AXIS_NAMES)}")
    for j, on in enumerate(active):
        if distinct[j] == 1:
            notes.append(f"{AXIS_NAMES[j]} does not vary in the data (all "
                         f"{math.exp(Xraw[0, j]):g}): its term is not identifiable and is left out")
        elif not on:
            notes.append(f"{AXIS_NAMES[j]} has only {distinct[j]} distinct values (a power law "
                         f"needs >= {min_distinct}): its term is not identifiable and is left out")
    if axes is not None:
        for j, on in enumerate(active):
            if on and AXIS_NAMES[j] not in axes:
                notes.append(f"{AXIS_NAMES[j]} term dropped (nested law)")
        active = tuple(on and AXIS_NAMES[j] in axes for j, on in enumerate(active))
    # two axes whose values are paired one to one (each value of one occurs with a single value
    # of the other: they were only ever changed together, `confounded_axes`) cannot be told
    # apart: a law with both terms is refused, and a law with one keeps their joint effect
    # under that axis's name (its exponent is unidentified)
    usable = tuple(d >= min_distinct for d in distinct)
    confounded = [(i, j) for i, j in itertools.combinations(range(3), 2)
                  if usable[i] and usable[j] and confounded_axes(Xraw, i, j)]
    for i, j in confounded:
        if active[i] and active[j]:
            raise FitError(f"{AXIS_NAMES[i]} and {AXIS_NAMES[j]} are confounded: each of the "
                           f"{distinct[i]} values of {AXIS_NAMES[i]} occurs with a single value "
                           f"of {AXIS_NAMES[j]} (no configuration changes one without the "
                           f"other), so their terms cannot be told apart; fit a law with one of "
                           "them (a nested law)")
    if not any(active):     # a constant: no axis to scale along, nothing to predict from
        raise FitError(f"no axis has {min_distinct} distinct values: no power law to fit "
                       f"(distinct values N {distinct[0]}, T {distinct[1]}, s {distinct[2]})"
                       if axes is None or not any(usable) else
                       f"the nested law keeps no axis ({', '.join(axes) or 'none'} asked): no "
                       "power law to fit")
    lw = make_law(law, active)
    need = max(lw.n_params * min_points_per_param, lw.n_params + 1 + (1 if loo else 0))
    if len(y) < need:
        raise FitError(f"the {law} law {lw.formula} has {lw.n_params} parameters: it needs at "
                       f"least {need} configurations ({min_points_per_param} per parameter), "
                       f"got {len(y)}")
    ref = Xraw.mean(axis=0)
    X = Xraw - ref
    logy = np.log(yf)
    best = None
    for theta0 in _grid_starts(lw, X, yf, n_starts):
        theta, loss = _polish(lw, theta0, X, logy)
        if best is None or loss < best[1] - 1e-12:
            best = (theta, loss)
    theta, loss = best
    fit = ScalingFit(lw, _report(lw, theta, ref), theta, ref, active, *(np.exp(Xraw[:, j])
                     for j in range(3)), y, loss, list(labels or []), notes=notes)
    if loo:
        fit.loo = _leave_one_out(lw, theta, X, logy, y)
    if n_bootstrap:
        fit.bootstrap = _bootstrap(lw, theta, X, logy, ref, n_bootstrap, seed)
    share = np.exp(_terms(lw, theta, X)) / np.maximum(np.exp(_log_pred(lw, theta, X)),
                                                        1e-300)[:, None]
    fit.unidentified = unidentified(lw, fit.params, fit.bootstrap,
                                    {lw.param_names[sc]: float(share[:, k].max())
                                     for k, (sc, factors) in enumerate(lw.terms) if factors})
    exponent = {col: lw.param_names[ex] for _, factors in lw.terms for ex, col, _ in factors}
    for i, j in confounded:
        for kept, other in ((i, j), (j, i)):
            if kept in exponent:
                fit.unidentified[exponent[kept]] = (
                    f"{AXIS_NAMES[kept]} is confounded with {AXIS_NAMES[other]} (their values "
                    f"are paired one to one): the exponent is their joint effect")
    for k, why in fit.unidentified.items():
        fit.notes.append(f"{k} is not identified: {why}")
    return fit


def confounded_axes(X: np.ndarray, i: int, j: int) -> bool:
    """Whether columns i and j of the log features are paired one to one in a design that
    repeats them: every value of each occurs with a single value of the other, and some pair
    occurs in more than one configuration (a grid that moved the two together while other axes
    varied; with every configuration's pair distinct, one to one is no evidence of it)."""
    a, b = np.round(X[:, i], 9), np.round(X[:, j], 9)
    pairs = len(set(zip(a.tolist(), b.tolist())))
    return pairs == len(np.unique(a)) == len(np.unique(b)) < len(a)


def unidentified(law: Law, params: dict[str, float], boot: "Bootstrap | None",
                 share: dict[str, float] | None = None) -> dict[str, str]:
    """Parameters the data do not pin down: an exponent at a bound of its range, a term that
    vanishes (`share`: its largest share of the predicted error over the data, below
    MIN_TERM_SHARE), or a bootstrap 95 % interval wider than MAX_CI_RATIO (every reported
    parameter is >= 0)."""
    out: dict[str, str] = {}
    for k, sh in (share or {}).items():
        if sh < MIN_TERM_SHARE:
            out[k] = (f"its term vanishes (at most {100 * sh:.2g}% of the error at any fitted "
                      "point)")
    lo_b, hi_b = EXP_BOUNDS
    for i in law.exp_idx:
        k = law.param_names[i]
        if params[k] <= lo_b + BOUND_TOL or params[k] >= hi_b - BOUND_TOL:
            out[k] = f"at the bound of its range [{lo_b:g}, {hi_b:g}] ({params[k]:.3g})"
    if boot is not None:
        for k in law.param_names:
            if k in out:
                continue
            lo, hi = boot.low[k], boot.high[k]
            if not (np.isfinite(lo) and np.isfinite(hi)) or hi > MAX_CI_RATIO * max(lo, 0.0) \
                    and hi > 0:
                out[k] = (f"bootstrap 95% interval {lo:.3g} to {hi:.3g} spans more than "
                          f"{MAX_CI_RATIO:g}x")
    return out


def _leave_one_out(law: Law, theta: np.ndarray, X: np.ndarray, logy: np.ndarray,
                   y: np.ndarray) -> LeaveOneOut:
    preds = np.empty(len(y))
    for i in range(len(y)):
        w = np.ones(len(y))
        w[i] = 0.0  # weight 0 == left out
        th, _ = _polish(law, theta, X, logy, w)
        preds[i] = math.exp(_log_pred(law, th, X[i:i + 1])[0])
    err = np.abs(preds - y)
    with np.errstate(divide="ignore"):
        rel = err / np.maximum(y, MIN_ERROR)
    return LeaveOneOut(preds, float(err.mean()), float(rel.mean()),
                       float(np.sqrt(np.mean((np.log(preds) - logy) ** 2))))


def _bootstrap(law: Law, theta: np.ndarray, X: np.ndarray, logy: np.ndarray, ref: np.ndarray,
               n: int, seed: int) -> Bootstrap:
    rng = np.random.default_rng(seed)
    samples = np.empty((n, law.n_params))
    for b in range(n):
        w = np.bincount(rng.integers(0, len(logy), len(logy)), minlength=len(logy)).astype(float)
        th, _ = _polish(law, theta, X, logy, w)
        samples[b] = list(_report(law, th, ref).values())
    names = law.param_names
    return Bootstrap(n, {k: float(samples[:, i].std(ddof=1)) for i, k in enumerate(names)},
                     {k: float(np.percentile(samples[:, i], 2.5)) for i, k in enumerate(names)},
                     {k: float(np.percentile(samples[:, i], 97.5)) for i, k in enumerate(names)},
                     samples)


# ---- nested laws compared ---------------------------------------------------------------------
@dataclass
class LawCandidate:
    """One nested law of a comparison: fitted (with its LOO error and BIC) or refused (why)."""

    axes: tuple[str, ...]               # axes with a term
    formula: str
    n_params: int
    fit: ScalingFit | None
    refused: str | None = None          # why it was not fitted
    bic: float | None = None

    @property
    def loo_mape(self) -> float | None:
        return None if self.fit is None or self.fit.loo is None else self.fit.loo.mape

    @property
    def identified(self) -> bool:
        return self.fit is not None and not self.fit.unidentified

    def to_dict(self) -> dict[str, Any]:
        return {"axes": list(self.axes), "formula": self.formula, "n_params": self.n_params,
                "refused": self.refused, "bic": self.bic, "loo_mape": self.loo_mape,
                "unidentified": None if self.fit is None else self.fit.unidentified}


@dataclass
class NestedComparison:
    """The nested laws of one kind compared; `chosen` is the simplest adequate one (module doc)."""

    law: str
    candidates: list[LawCandidate]
    chosen: ScalingFit | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"law": self.law, "reason": self.reason,
                "chosen": None if self.chosen is None else self.chosen.to_dict(),
                "candidates": [c.to_dict() for c in self.candidates],
                "rule": (f"simplest law (fewest parameters, then lower BIC) among those with all "
                         f"parameters identified whose leave-one-configuration-out MAPE is within "
                         f"{100 * NESTED_REL_MARGIN:g}% relative + {100 * NESTED_ABS_MARGIN:g} "
                         f"points of the best")}


def bic_log(fit: ScalingFit) -> float:
    """BIC of a fit's log residuals under a Gaussian: n ln(RSS / n) + k ln n."""
    r = np.log(np.maximum(fit.fitted, 1e-300)) - np.log(np.maximum(fit.y, MIN_ERROR))
    n = len(r)
    rss = max(float(np.sum(r * r)), 1e-300)
    return float(n * math.log(rss / n) + fit.law.n_params * math.log(n))


def compare_nested(N: Sequence[float], T: Sequence[float], s: Sequence[float],
                   y: Sequence[float], law: str = "additive", n_bootstrap: int = 0,
                   seed: int = 0, labels: Sequence[str] | None = None,
                   min_distinct: int = MIN_DISTINCT,
                   min_points_per_param: int = MIN_POINTS_PER_PARAM) -> NestedComparison:
    """Fit every nested law of `law` (terms for each non-empty subset of the identifiable axes),
    with leave-one-out, and keep the simplest adequate one (module docstring)."""
    Xraw = _features(N, T, s)
    if not np.all(np.isfinite(Xraw)):
        raise FitError("N, T and s must be finite and > 0")
    distinct = [len(np.unique(np.round(Xraw[:, j], 9))) for j in range(3)]
    usable = [a for a, d in zip(AXIS_NAMES, distinct) if d >= min_distinct]
    if not usable:
        raise FitError(f"no axis has {min_distinct} distinct values: no power law to fit "
                       f"(distinct values N {distinct[0]}, T {distinct[1]}, s {distinct[2]})")
    cands: list[LawCandidate] = []
    for k in range(len(usable), 0, -1):
        for axes in itertools.combinations(usable, k):
            lw = make_law(law, tuple(a in axes for a in AXIS_NAMES))
            try:
                fit = fit_law(N, T, s, y, law=law, loo=True, n_bootstrap=n_bootstrap, seed=seed,
                              labels=labels, min_distinct=min_distinct,
                              min_points_per_param=min_points_per_param, axes=axes)
            except FitError as e:
                cands.append(LawCandidate(axes, lw.formula, lw.n_params, None, str(e)))
                continue
            cands.append(LawCandidate(axes, lw.formula, lw.n_params, fit, None, bic_log(fit)))
    fitted = [c for c in cands if c.fit is not None and c.loo_mape is not None]
    if not fitted:
        return NestedComparison(law, cands, None, "no nested law could be fitted: "
                                + "; ".join(f"{c.formula}: {c.refused}" for c in cands))
    pool = [c for c in fitted if c.identified] or fitted
    best = min(c.loo_mape for c in pool)
    bound = best * (1 + NESTED_REL_MARGIN) + NESTED_ABS_MARGIN
    adequate = [c for c in pool if c.loo_mape <= bound]
    pick = min(adequate, key=lambda c: (c.n_params, c.bic, c.formula))
    ident = "all parameters identified" if pick.identified else \
        "no nested law has all its parameters identified"
    lower = [c for c in pool if c.loo_mape < pick.loo_mape - 1e-12]
    reason = (f"kept {pick.formula} ({pick.n_params} parameters, {ident}): leave-one-"
              f"configuration-out MAPE {100 * pick.loo_mape:.2g}% vs the best {100 * best:.2g}% "
              f"(adequate up to {100 * bound:.2g}%), BIC {pick.bic:.3g}")
    if lower:
        reason += ("; the more complex " + ", ".join(c.formula for c in lower)
                   + " do not predict held-out configurations enough better to keep")
    refused = [c for c in cands if c.fit is None]
    if refused:
        reason += f"; {len(refused)} law(s) not fitted (too few configurations for their " \
                  "parameters, or confounded axes)"
    return NestedComparison(law, cands, pick.fit, reason)


# ---- from measured configurations ---------------------------------------------------------------
@lru_cache(maxsize=None)
def n_params(model: str) -> int:
    """Parameters of an architecture (speechbudget.models.params.param_count: arithmetic)."""
    from speechbudget.architectures import get_architecture
    from speechbudget.models.params import param_count
    return int(param_count(get_architecture(model)))


def _group_key(c: Config) -> str:
    d = c.to_dict()
    for f in ("model", "window", "stride", "dynamic_margin_s"):
        d.pop(f)
    if c.stride == 1:  # stride 1 belongs with any stride position/pooling
        d.pop("stride_at"), d.pop("pool")
    return repr(sorted(d.items()))


def _compatible(c: Config, ref: Config) -> bool:
    if _group_key(c) == _group_key(ref):
        return True
    return c.stride == 1 and _group_key(c) == _group_key(ref.with_(stride=1))


def fit_group(results: Results) -> tuple[str, Results, list[tuple[str, str]]]:
    """(task, the configurations fitted together, the excluded ones with why): see
    `fit_results`."""
    tasks = sorted({c.task for c, _ in results})
    if len(tasks) > 1:
        raise FitError(f"results hold tasks {', '.join(tasks)}: fit one task at a time")
    excluded: list[tuple[str, str]] = []
    usable = []
    for c, m in results:
        if c.is_dynamic:
            excluded.append((c.label, "dynamic window (no single T)"))
        elif m.error is None or not math.isfinite(m.error):
            excluded.append((c.label, f"error is {m.error!r}"))
        else:
            usable.append((c, m))
    if not usable:
        raise FitError("no configuration with a fixed window and a finite error to fit")
    strided = [c for c, _ in usable if c.stride > 1]
    groups: dict[str, list] = {}
    for c, m in usable:
        groups.setdefault(_group_key(c), []).append((c, m))
    # choose the group (by a strided representative when any) holding the most configurations
    reps = {k: v[0][0] for k, v in groups.items()}
    def members(ref: Config) -> list:
        return [(c, m) for c, m in usable if _compatible(c, ref)]
    candidates = sorted(reps.values(), key=lambda r: (-len(members(r)), r.stride == 1, r.label))
    ref = candidates[0] if strided else usable[0][0]
    chosen = members(ref)
    keys = {c.key for c, _ in chosen}
    excluded += [(c.label, "other adaptation/precision/beam/stride position than the fitted "
                           "group") for c, _ in usable if c.key not in keys]
    return tasks[0], chosen, excluded


def fit_results(results: Results, law: str = "additive", n_bootstrap: int = 100, seed: int = 0,
                loo: bool = True) -> ScalingFit:
    """Fit `law` to measured configurations of one task.

    Only configurations that differ along model, window and stride are fitted together: the
    largest such group (same adaptation, precision, beam, stride position and pooling; stride 1
    joins any group) is used and the rest are listed as excluded. Dynamic windows are excluded
    (T is not one number).
    """
    task, chosen, excluded = fit_group(results)
    N = [n_params(c.model) for c, _ in chosen]
    T = [float(c.window) for c, _ in chosen]
    s = [c.stride for c, _ in chosen]
    y = [m.error for _, m in chosen]
    try:
        fit = fit_law(N, T, s, y, law=law, loo=loo, n_bootstrap=n_bootstrap, seed=seed,
                      labels=[c.label for c, _ in chosen])
    except FitError as e:
        raise FitError(f"scaling fit on {len(chosen)} configuration(s) of task {task}: {e}") \
            from None
    fit.excluded = excluded
    fit.configs = [c for c, _ in chosen]
    return fit


def fit_results_nested(results: Results, law: str = "additive", n_bootstrap: int = 100,
                       seed: int = 0) -> NestedComparison:
    """`compare_nested` on the configurations `fit_results` would fit; every fitted candidate
    carries the excluded list and its configurations (for `predict_configs`, `unrun_grid`)."""
    task, chosen, excluded = fit_group(results)
    try:
        cmp_ = compare_nested([n_params(c.model) for c, _ in chosen],
                              [float(c.window) for c, _ in chosen], [c.stride for c, _ in chosen],
                              [m.error for _, m in chosen], law=law, n_bootstrap=n_bootstrap,
                              seed=seed, labels=[c.label for c, _ in chosen])
    except FitError as e:
        raise FitError(f"scaling fit on {len(chosen)} configuration(s) of task {task}: {e}") \
            from None
    for cand in cmp_.candidates:
        if cand.fit is not None:
            cand.fit.excluded = list(excluded)
            cand.fit.configs = [c for c, _ in chosen]
    return cmp_


@dataclass(frozen=True)
class Prediction:
    """A configuration that was NOT run: its error as predicted by a fit. Never a measurement."""

    config: Config
    error: float
    low: float | None            # bootstrap 95 % interval of the prediction, when available
    high: float | None
    gflops: float | None         # analytic (speechbudget.flops.estimate)
    predicted: bool = True


def predict_configs(fit: ScalingFit, configs: Iterable[Config],
                    measured_keys: Iterable[str] = ()) -> list[Prediction]:
    """Predicted errors for configurations not run (measured ones are refused: never mixed)."""
    measured = set(measured_keys)
    configs = list(configs)
    clash = [c.label for c in configs if c.key in measured]
    if clash:
        raise ValueError(f"configuration(s) {', '.join(clash)} were measured: use the measured "
                         "values, predictions are only for configurations not run")
    bad = [c.label for c in configs if c.is_dynamic]
    if bad:
        raise ValueError(f"cannot predict dynamic-window configuration(s) {', '.join(bad)}")
    if not configs:
        return []
    N = np.array([n_params(c.model) for c in configs], float)
    T = np.array([float(c.window) for c in configs])
    s = np.array([c.stride for c in configs], float)
    outside = _beyond_the_law(fit, configs, (N, T, s))
    if outside:
        raise ValueError("cannot predict " + "; ".join(outside) + ": the law has no term for "
                         "that axis, so it says nothing about values outside those measured "
                         "(measure such configurations, or fit data that vary that axis over "
                         f"{MIN_DISTINCT} or more values)")
    pred = fit.predict(N, T, s)
    lo = hi = None
    if fit.bootstrap is not None:
        X = _features(N, T, s) - fit.ref
        draws = []
        for row in fit.bootstrap.samples:
            th = _theta_from_params(fit.law, dict(zip(fit.law.param_names, row)), fit.ref)
            draws.append(np.exp(_log_pred(fit.law, th, X)))
        draws = np.array(draws)
        lo, hi = np.percentile(draws, 2.5, axis=0), np.percentile(draws, 97.5, axis=0)
    out = []
    for i, c in enumerate(configs):
        out.append(Prediction(c, float(pred[i]), None if lo is None else float(lo[i]),
                              None if hi is None else float(hi[i]), _gflops(c)))
    return out


def _beyond_the_law(fit: ScalingFit, configs: list[Config],
                    values: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list[str]:
    """For each configuration, the axes without a term in the fitted law (not identifiable, or
    dropped by the nested comparison) on which it lies outside the fitted range: a prediction
    there would be an extrapolation along an axis the law does not model (a fit on tiny.en
    alone gave small the error of tiny.en)."""
    fitted = (fit.N, fit.T, fit.s)
    names = {"N": "parameters", "T": "window (s)", "s": "stride"}
    out = []
    for i, c in enumerate(configs):
        bad = []
        for j, on in enumerate(fit.active):
            if on or not len(fitted[j]):
                continue
            lo, hi = float(np.min(fitted[j])), float(np.max(fitted[j]))
            v = float(values[j][i])
            if not lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9):
                span = f"{lo:.4g}" if lo == hi else f"{lo:.4g} to {hi:.4g}"
                bad.append(f"{AXIS_NAMES[j]} ({names[AXIS_NAMES[j]]}) {v:.4g}, fitted at {span}")
        if bad:
            out.append(f"{c.label} ({', '.join(bad)})")
    return out


def _theta_from_params(law: Law, params: dict[str, float], ref: np.ndarray) -> np.ndarray:
    theta = np.zeros(law.n_params)
    for i in law.exp_idx:
        theta[i] = params[law.param_names[i]]
    for sc, factors in law.terms:
        theta[sc] = math.log(max(params[law.param_names[sc]], 1e-300)) + sum(
            sign * theta[ex] * ref[col] for ex, col, sign in factors)
    return theta


def _gflops(c: Config) -> float | None:
    try:
        from speechbudget.flops import estimate
        return float(estimate(c).gflops)
    except Exception:  # noqa: BLE001 - an estimate that cannot be made is shown as unknown
        return None


def unrun_grid(fit: ScalingFit, results: Results) -> list[Config]:
    """The model x window x stride grid of the fitted group's measured values, minus those run."""
    configs = fit.configs
    if not configs:
        return []
    ref = next((c for c in configs if c.stride > 1), configs[0])
    measured = {c.key for c, _ in results}
    models = sorted({c.model for c in configs}, key=n_params)
    windows = sorted({float(c.window) for c in configs})
    strides = sorted({c.stride for c in configs})
    out = []
    for mdl, w, st in itertools.product(models, windows, strides):
        try:
            c = ref.with_(model=mdl, window=w, stride=st)
        except ValueError:
            continue
        if c.key not in measured:
            out.append(c)
    return out
