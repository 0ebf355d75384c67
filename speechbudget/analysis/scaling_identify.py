"""What the data can pin down: the rules by which a scaling fit refuses (module doc of
`scaling_fit` for the whole picture).

- an axis with fewer than MIN_DISTINCT (3) distinct values has no identifiable power law (two
  values fix a slope, not a scale, an exponent and an offset): its term (additive) or exponent
  (product) is dropped and the fit says so (`axis_terms`);
- two axes whose values are paired one to one in a design that repeats them are confounded: a
  law with both terms is refused, one with a single term keeps their joint effect
  (`confounded_axes`, `confounded_exponents`);
- a law is fitted only with at least MIN_POINTS_PER_PARAM (3) configurations per parameter;
  fewer raise FitError naming the counts (`require_points`);
- a parameter at a bound of its range (an exponent at 0 or 4), a scale whose term is below
  MIN_TERM_SHARE (0.1 %) of the error at every fitted point (the term vanished), or one whose
  bootstrap 95 % interval spans more than MAX_CI_RATIO (100x, two orders of magnitude), is
  unidentified (`unidentified`);
- `prediction_refusal` says why predictions are not to be shown (unidentified parameters, no
  leave-one-out check, or a leave-one-configuration-out MAPE above MAX_LOO_MAPE, 10 %), else None.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from speechbudget.analysis.scaling_law import AXIS_NAMES, EXP_BOUNDS, MIN_ERROR, FitError, Law
from speechbudget.analysis.scaling_resample import Bootstrap, LeaveOneOut

MIN_DISTINCT = 3                        # distinct values an axis needs for its term
MIN_POINTS_PER_PARAM = 3                # configurations per fitted parameter
MAX_CI_RATIO = 100.0                    # bootstrap 97.5 % / 2.5 % beyond this: unidentified
# the fewest bootstrap draws whose 2.5 % and 97.5 % percentiles are each a draw, not an
# interpolation towards the extremes ((n + 1) x 0.025 >= 1): with fewer (or none) a narrow
# interval is no evidence that a parameter is identified, and the fit says so (`few_draws`)
MIN_CI_DRAWS = 39


def few_draws(boot: Bootstrap | None) -> str | None:
    """Why the bootstrap cannot show the parameters identified (None: it can)."""
    if boot is None:
        return "no bootstrap: the parameters' 95% intervals were not checked"
    if boot.n < MIN_CI_DRAWS:
        return (f"bootstrap of {boot.n} resample{'' if boot.n == 1 else 's'}: too few for 95% "
                f"intervals (at least {MIN_CI_DRAWS}), so the parameters' intervals were not "
                "checked")
    return None
MAX_LOO_MAPE = 0.10                     # predictions shown only below this LOO error
BOUND_TOL = 1e-3                        # an exponent this close to a bound is "at the bound"
MIN_TERM_SHARE = 1e-3                   # a term below this share of the error everywhere vanished


def distinct_values(Xraw: np.ndarray) -> list[int]:
    """Distinct values of each column of the log features (to 9 decimals)."""
    return [len(np.unique(np.round(Xraw[:, j], 9))) for j in range(3)]


@dataclass(frozen=True)
class AxisTerms:
    """Which axes get a term, and why the others do not."""

    distinct: list[int]                     # distinct values of N, T, s
    active: tuple[bool, ...]                # axes with a term in the law
    confounded: list[tuple[int, int]]       # column pairs paired one to one
    notes: list[str]


def axis_terms(Xraw: np.ndarray, min_distinct: int = MIN_DISTINCT,
               axes: Sequence[str] | None = None) -> AxisTerms:
    """The axes that get a term: those with `min_distinct` values, restricted to `axes` (a nested
    law) when given. Raises FitError for an unknown axis, a law with two confounded terms, or
    one with no term."""
    notes = []
    distinct = distinct_values(Xraw)
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
        raise (no_power_law(distinct, min_distinct) if axes is None or not any(usable) else
               FitError(f"the nested law keeps no axis ({', '.join(axes) or 'none'} asked): no "
                        "power law to fit"))
    return AxisTerms(distinct, active, confounded, notes)


def no_power_law(distinct: list[int], min_distinct: int = MIN_DISTINCT) -> FitError:
    """The FitError for data in which no axis has `min_distinct` distinct values."""
    return FitError(f"no axis has {min_distinct} distinct values: no power law to fit "
                    f"(distinct values N {distinct[0]}, T {distinct[1]}, s {distinct[2]})")


def require_some_error(y: np.ndarray) -> None:
    """FitError when every error is 0 (every configuration scored perfectly: UA 1, WER 0): the
    error does not change with compute, and a log-space fit of errors floored at MIN_ERROR
    reported a leave-one-configuration-out MAPE of 100% for a law that predicts 1e-06."""
    if len(y) and np.all(y < MIN_ERROR):
        raise FitError(f"every one of the {len(y)} configurations has error 0 (a perfect "
                       "score): the error does not change with compute, there is no law to fit")


def require_points(law: str, lw: Law, n_points: int,
                   min_points_per_param: int = MIN_POINTS_PER_PARAM, loo: bool = True) -> None:
    """FitError unless there are `min_points_per_param` configurations per parameter (and at
    least one more than the parameters, two with a leave-one-out)."""
    need = max(lw.n_params * min_points_per_param, lw.n_params + 1 + (1 if loo else 0))
    if n_points < need:
        raise FitError(f"the {law} law {lw.formula} has {lw.n_params} parameters: it needs at "
                       f"least {need} configurations ({min_points_per_param} per parameter), "
                       f"got {n_points}")


def confounded_axes(X: np.ndarray, i: int, j: int) -> bool:
    """Whether columns i and j of the log features are paired one to one in a design that
    repeats them: every value of each occurs with a single value of the other, and some pair
    occurs in more than one configuration (a grid that moved the two together while other axes
    varied; with every configuration's pair distinct, one to one is no evidence of it)."""
    a, b = np.round(X[:, i], 9), np.round(X[:, j], 9)
    pairs = len(set(zip(a.tolist(), b.tolist())))
    return pairs == len(np.unique(a)) == len(np.unique(b)) < len(a)


def confounded_exponents(law: Law, confounded: list[tuple[int, int]]) -> dict[str, str]:
    """The exponent of a kept axis confounded with another: unidentified (their joint effect)."""
    out: dict[str, str] = {}
    exponent = {col: law.param_names[ex] for _, factors in law.terms for ex, col, _ in factors}
    for i, j in confounded:
        for kept, other in ((i, j), (j, i)):
            if kept in exponent:
                out[exponent[kept]] = (
                    f"{AXIS_NAMES[kept]} is confounded with {AXIS_NAMES[other]} (their values "
                    f"are paired one to one): the exponent is their joint effect")
    return out


def unidentified(law: Law, params: dict[str, float], boot: Bootstrap | None,
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


def prediction_refusal(unidentified: dict[str, str], loo: LeaveOneOut | None,
                       max_loo_mape: float = MAX_LOO_MAPE) -> str | None:
    """Why a fit's predictions are not to be shown, or None when they may be."""
    if unidentified:
        return ("not identified: " + "; ".join(f"{k} {v}" for k, v in unidentified.items()))
    if loo is None:
        return "no leave-one-configuration-out check was run"
    if not loo.mape <= max_loo_mape:
        return (f"leave-one-configuration-out error {100 * loo.mape:.2g}% is above the "
                f"{100 * max_loo_mape:.2g}% threshold")
    return None
