"""Scaling-law fit of error against the axes (Chinchilla's approach 3, Hoffmann et al. 2022).

Laws (N = parameters, T = window seconds, s = token stride; `scaling_law`):
  additive  err = E + A / N^alpha + B / T^beta + C * s^gamma
  product   err = E + K * N^-alpha * T^-beta * s^gamma
`fit_law` fits one to arrays: it keeps a term only for the axes the data identify and refuses
what they cannot pin down (`scaling_identify`), minimises a Huber loss in log space from the best
of a grid of starts (`scaling_solver`), then measures the fit by leave-one-configuration-out and
its parameters' uncertainty by a bootstrap over configurations (`scaling_resample`).
Elsewhere: nested laws compared (`scaling_nested`), fits from measured configurations
(`scaling_results`), predictions for configurations not run (`scaling_predict`). Numbers are
reported to 3 significant figures.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from speechbudget.analysis.scaling_identify import (MAX_LOO_MAPE, MIN_DISTINCT,
                                                    MIN_POINTS_PER_PARAM, axis_terms,
                                                    confounded_exponents, few_draws,
                                                    prediction_refusal,
                                                    require_points, require_some_error,
                                                    unidentified)
from speechbudget.analysis.scaling_law import (MIN_ERROR, FitError, Law, features, log_pred,
                                               make_law, params_from_theta, terms)
from speechbudget.analysis.scaling_resample import (Bootstrap, LeaveOneOut, bootstrap,
                                                    leave_one_out)
from speechbudget.analysis.scaling_solver import N_STARTS, grid_starts, polish
from speechbudget.axes import Config


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
        return prediction_refusal(self.unidentified, self.loo, max_loo_mape)

    @property
    def formula(self) -> str:
        return self.law.formula

    @property
    def fitted(self) -> np.ndarray:
        return self.predict(self.N, self.T, self.s)

    def predict(self, N: Any, T: Any, s: Any) -> np.ndarray:
        X = features(N, T, s) - self.ref
        return np.exp(log_pred(self.law, self.theta, X))

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
    Xraw = features(N, T, s)
    y = np.asarray(y, dtype=float)
    if y.ndim != 1 or len(y) != len(Xraw):
        raise FitError(f"N, T, s and errors must have the same length (got {len(Xraw)} and "
                       f"{y.shape})")
    if not np.all(np.isfinite(Xraw)):
        raise FitError("N, T and s must be finite and > 0")
    if not np.all(np.isfinite(y)) or np.any(y < 0):
        raise FitError("errors must be finite and >= 0")
    require_some_error(y)
    notes = []
    if np.any(y < MIN_ERROR):
        notes.append(f"{int(np.sum(y < MIN_ERROR))} error(s) of 0 floored to {MIN_ERROR:g} "
                     "for the log-space fit")
    yf = np.maximum(y, MIN_ERROR)
    chosen = axis_terms(Xraw, min_distinct, axes)
    notes += chosen.notes
    active = chosen.active
    lw = make_law(law, active)
    require_points(law, lw, len(y), min_points_per_param, loo)
    ref = Xraw.mean(axis=0)
    X = Xraw - ref
    logy = np.log(yf)
    best = None
    for theta0 in grid_starts(lw, X, yf, n_starts):
        theta, loss = polish(lw, theta0, X, logy)
        if best is None or loss < best[1] - 1e-12:
            best = (theta, loss)
    theta, loss = best
    fit = ScalingFit(lw, params_from_theta(lw, theta, ref), theta, ref, active,
                     *(np.exp(Xraw[:, j]) for j in range(3)), y, loss, list(labels or []),
                     notes=notes)
    if loo:
        fit.loo = leave_one_out(lw, theta, X, logy, y)
    if n_bootstrap:
        fit.bootstrap = bootstrap(lw, theta, X, logy, ref, n_bootstrap, seed)
    share = np.exp(terms(lw, theta, X)) / np.maximum(np.exp(log_pred(lw, theta, X)),
                                                       1e-300)[:, None]
    fit.unidentified = unidentified(lw, fit.params, fit.bootstrap,
                                    {lw.param_names[sc]: float(share[:, k].max())
                                     for k, (sc, factors) in enumerate(lw.terms) if factors})
    fit.unidentified.update(confounded_exponents(lw, chosen.confounded))
    for k, why in fit.unidentified.items():
        fit.notes.append(f"{k} is not identified: {why}")
    unchecked = few_draws(fit.bootstrap)
    if unchecked:
        fit.notes.append(unchecked)
    return fit
