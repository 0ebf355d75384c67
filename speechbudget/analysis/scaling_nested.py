"""Nested scaling laws compared (`compare_nested`): within one kind of law, every law that keeps
the terms of a non-empty subset of the identifiable axes (the full law, each axis term dropped,
...) is fitted where the data allow it (the points-per-parameter rule; a law the data cannot
support is listed with the reason). Each fitted law gets its leave-one-configuration-out MAPE
and the BIC of its log residuals (n ln(RSS/n) + k ln n). The law kept is *the simplest adequate
one*: among the laws whose parameters are all identified (if none is, among all), those with a
LOO MAPE within NESTED_REL_MARGIN (10 %) relative plus NESTED_ABS_MARGIN (0.2 points of MAPE) of
the best LOO MAPE are adequate, and the one with the fewest parameters is kept (ties: lower
BIC). `NestedComparison.reason` says which and why.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from speechbudget.analysis.scaling_fit import ScalingFit, fit_law
from speechbudget.analysis.scaling_identify import (MIN_DISTINCT, MIN_POINTS_PER_PARAM,
                                                    distinct_values, few_draws, no_power_law,
                                                    require_some_error)
from speechbudget.analysis.scaling_law import (AXIS_NAMES, MIN_ERROR, FitError, features,
                                               make_law)

NESTED_REL_MARGIN = 0.10                # a nested law is adequate within 10 % of the best LOO
NESTED_ABS_MARGIN = 0.002               # ... plus 0.2 points of MAPE


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
    Xraw = features(N, T, s)
    if not np.all(np.isfinite(Xraw)):
        raise FitError("N, T and s must be finite and > 0")
    require_some_error(np.asarray(y, dtype=float))   # said once, not once per nested law
    distinct = distinct_values(Xraw)
    usable = [a for a, d in zip(AXIS_NAMES, distinct) if d >= min_distinct]
    if not usable:
        raise no_power_law(distinct, min_distinct)
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
    if pick.identified and few_draws(pick.fit.bootstrap):   # bounds and shares only
        ident += f" as far as checked ({few_draws(pick.fit.bootstrap)})"
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
