"""Marginal return per axis at a recommended configuration: the error change per doubling of
FLOPs when moving along xN (model), xT (window) or xV (token stride) to the nearest measured
neighbour that differs only on that axis, up (more FLOPs) and down (fewer). The step up that
would help most, and the limit it breaks, name the binding knob (`binding_knob`).

A step's change is always given with its FLOPs ratio r; the rate per doubling, change / log2(r),
only when the step spans at least `MIN_RATE_DOUBLINGS` of a doubling (r >= 2^(1/8), about 1.09):
the rate multiplies the change, and its noise, by 1 / log2(r), which grows without bound as r
nears 1 (r = 1.016: x44). A closer step
(a stride on the encoder's output changes little but the cross-attention) has no rate and is not
ranked for the binding knob. Along each axis and direction the step given (`AxisReturn.up`,
`.down`) is the nearest one that spans enough for a rate; a nearer step that does not is shown
beside it (`nearer_up`, `nearer_down`), so it never hides the rated one."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

from speechbudget.analysis.limits import Limits, Results, Violation, violations
from speechbudget.analysis.recommend_text import fmt_error_change
from speechbudget.axes import Config
from speechbudget.paired import (RATE_METRICS, PairedDifference, PairingError, corpus_error,
                                 pair_items, paired_difference)
from speechbudget.records import ConfigMetrics, ItemResult

# axis name -> (config fields that make up the axis, human description)
AXES: dict[str, tuple[tuple[str, ...], str]] = {
    "xN": (("model",), "model size"),
    "xT": (("window", "dynamic_margin_s"), "input window"),
    "xV": (("stride", "stride_at", "pool"), "token stride"),
}
# An error difference this small (relative to the error) is rounding, not a return: two SER
# configurations with the same per-class recalls in another class order have the same UA, but
# their means, summed in another order, differ in the last bits (1 - UA 0.35 vs
# 0.34999999999999987). A real difference is one error in the data set's units (one word in
# 10^11 words is 1e-11), far above it.
ROUNDING = 1e-12
# The least part of a doubling a step must span for its change to be given per doubling: the rate
# is the change times 1 / log2(r), an extrapolation to a doubling, and this caps that factor at 8
# (r >= 2^(1/8) = 1.0905). A convention fixed from the definition, not from any data: some
# bound is needed (the factor is unbounded as r nears 1), and 1/8 of a doubling keeps the steps
# a grid of models or windows makes (window 25 -> 30 s: r about 1.2, a factor 3.8).
MIN_RATE_DOUBLINGS = 1 / 8
MIN_RATE_RATIO = 2.0 ** MIN_RATE_DOUBLINGS


@dataclass(frozen=True)
class Step:
    """A move from the recommended configuration to a measured neighbour along one axis."""

    config: Config
    metrics: ConfigMetrics
    flops_ratio: float           # neighbour GFLOPs / recommended GFLOPs
    d_error: float               # neighbour error - recommended error
    # d_error / log2(flops_ratio); NaN when the step spans less than MIN_RATE_DOUBLINGS of a
    # doubling (no rate: see `rated`)
    per_doubling: float
    violations: tuple[Violation, ...]
    # d_error is on the items both scored (the paired tests' items) when per-item results were
    # given: n_items of them, n_left_out scored by only one (or failed); None: each error on
    # its own items (metrics only)
    n_items: int | None = None
    n_left_out: int | None = None
    # the paired bootstrap CI of d_error (neighbour - recommended, on the items both scored),
    # as the tie group's; None without per-item results
    difference: PairedDifference | None = None

    @property
    def feasible(self) -> bool:
        return not self.violations

    @property
    def rated(self) -> bool:
        """Whether the step spans enough of a doubling to give its change per doubling."""
        return math.isfinite(self.per_doubling)

    @property
    def significant(self) -> bool | None:
        """Whether the paired test tells the neighbour's error from the answer's (None: no
        paired test was possible)."""
        return None if self.difference is None else self.difference.significant


@dataclass(frozen=True)
class AxisReturn:
    axis: str                    # "xN" | "xT" | "xV"
    description: str
    # the nearest neighbour with more (fewer) FLOPs that spans enough of a doubling for a rate,
    # or the nearest neighbour when none does
    up: Step | None
    down: Step | None
    # a neighbour nearer than `up` (`down`), too close in cost for a rate: shown, not ranked;
    # None when `up` (`down`) is the nearest
    nearer_up: Step | None = None
    nearer_down: Step | None = None

    def steps(self) -> list[tuple[str, Step]]:
        """The steps to show, ("up" | "down", step), nearest first in each direction."""
        return [(d, s) for d, s in (("up", self.nearer_up), ("up", self.up),
                                    ("down", self.nearer_down), ("down", self.down))
                if s is not None]


def _other_axes(config: Config, axis: str) -> tuple:
    """The configuration's values on every field outside `axis` (comparable, hashable)."""
    skip = AXES[axis][0]
    return tuple(getattr(config, f.name) for f in fields(Config) if f.name not in skip)


def _is_neighbour(a: Config, b: Config, axis: str, a_rest: tuple | None = None) -> bool:
    """b differs from a only along `axis` (and really differs there). `a_rest`: a's
    `_other_axes(a, axis)` when already computed."""
    if a == b or (a_rest or _other_axes(a, axis)) != _other_axes(b, axis):
        return False
    if axis == "xV":  # a stride step keeps where/how it applies, unless one side has no stride
        if a.stride == b.stride:
            return False
        return a.stride == 1 or b.stride == 1 or (a.stride_at, a.pool) == (b.stride_at, b.pool)
    if axis == "xT":
        return a.window != b.window
    return True


def _shared_difference(a: list[ItemResult], b: list[ItemResult], metric: str, level: float,
                       seed: int) -> tuple[float, int, int, PairedDifference | None] | None:
    """error(a) - error(b) on the items both scored, the number of those items and of the items
    left out, and the paired CI of that difference on the same pairs (None when the test
    cannot be run); None when they share none (or the metric has no per-item form)."""
    try:
        p = pair_items(a, b, metric)
    except (PairingError, ValueError):
        return None
    if not p.testable:
        return None
    d = float(corpus_error(p.errors_a, p.n_ref, p.labels)
              - corpus_error(p.errors_b, p.n_ref, p.labels))
    try:
        ci = paired_difference(p, level=level, seed=seed)
    except ValueError:
        ci = None
    return d, len(p), p.dropped, ci


def marginal_returns(best: tuple[Config, ConfigMetrics], results: Results,
                     limits: Limits | None = None,
                     items: dict[str, list[ItemResult]] | None = None,
                     level: float = 0.95, seed: int = 0) -> list[AxisReturn]:
    """Error change per doubling of FLOPs along each axis, from the nearest measured neighbours.
    With `items` (per-item results by config key) the error change is on the items both
    scored, as the paired tests and the frontier compare them: a neighbour's error over items
    the answer failed on (or the other way round) is not a return of the compute; and each
    chosen step carries the paired bootstrap CI of that change (`Step.difference`, at `level`,
    seeded as the tie group's tests)."""
    limits = limits or Limits()
    items = items or {}
    c0, m0 = best
    out = []
    for axis, (_, desc) in AXES.items():
        ups, downs = [], []
        rest0 = _other_axes(c0, axis)
        if _has_gflops(m0):
            for c, m in results:
                if not _has_gflops(m) or not math.isfinite(m.error) \
                        or not _is_neighbour(c0, c, axis, rest0):
                    continue
                ratio = m.gflops / m0.gflops
                if ratio != 1.0:
                    (ups if ratio > 1 else downs).append((c, m, ratio))
        picked = {}
        for d, cands in (("up", ups), ("down", downs)):
            near, rated = _nearest(cands)
            picked[d] = rated or near
            picked["nearer_" + d] = near if rated is not None and near is not rated else None
        out.append(AxisReturn(axis, desc, **{
            k: None if v is None else _step(c0, m0, *v, limits, items, level, seed)
            for k, v in picked.items()}))
    return out


def _has_gflops(m: ConfigMetrics) -> bool:
    """GFLOPs measured and usable in a ratio: None, NaN (missing) and infinity (counts as not
    measured) are not, nor 0."""
    return m.gflops is not None and math.isfinite(m.gflops) and m.gflops > 0


def _nearest(cands: list[tuple[Config, ConfigMetrics, float]]) -> tuple:
    """(the nearest candidate, the nearest that spans enough of a doubling for a rate), by
    |log r| then label; None where there is none."""
    order = sorted(cands, key=lambda x: (abs(math.log(x[2])), x[0].label))
    rated = [x for x in order if spans_a_rate(x[2])]
    return (order[0] if order else None), (rated[0] if rated else None)


def _step(c0: Config, m0: ConfigMetrics, c: Config, m: ConfigMetrics, ratio: float,
          limits: Limits, items: dict[str, list[ItemResult]], level: float, seed: int) -> Step:
    """The step from the answer (c0, m0) to the neighbour (c, m): its error change, on the
    items both scored when both have per-item results, with the paired CI of that change
    (the same pairs, paired once)."""
    d_err, n_shared, left_out, ci = m.error - m0.error, None, None, None
    if items.get(c.key) and items.get(c0.key):
        shared = _shared_difference(items[c.key], items[c0.key], m.metric, level, seed)
        if shared is not None:
            d_err, n_shared, left_out, ci = shared
    if abs(d_err) <= ROUNDING * max(1.0, abs(m0.error)):
        d_err = 0.0
    return Step(c, m, ratio, d_err, rate_per_doubling(d_err, ratio),
                tuple(violations(m, limits)), n_shared, left_out, ci)


def rate_per_doubling(d_error: float, flops_ratio: float) -> float:
    """d_error / log2(flops_ratio): the change per doubling of FLOPs; NaN when the step spans
    less than MIN_RATE_DOUBLINGS of a doubling either way (too close in cost for a rate)."""
    if not spans_a_rate(flops_ratio):
        return math.nan
    return d_error / math.log2(flops_ratio)


def spans_a_rate(flops_ratio: float) -> bool:
    """Whether a step of this FLOPs ratio spans at least MIN_RATE_DOUBLINGS of a doubling
    either way (r >= MIN_RATE_RATIO or r <= 1 / MIN_RATE_RATIO)."""
    return abs(math.log2(flops_ratio)) >= MIN_RATE_DOUBLINGS


def evidence(step: Step) -> str:
    """The paired CI of a step's error change, in words ('' without one)."""
    d = step.difference
    if d is None:
        return ""
    rate = step.metrics.metric in RATE_METRICS
    unit = f" {step.metrics.metric.upper()} points" if rate else ""
    ci = d.ci_text(100.0 if rate else 1.0)
    ci += unit if ci[:1] in "+-" else ""
    verdict = "" if d.significant else ": not told apart from no change"
    return f"paired {100 * d.level:.0f}% CI of the change {ci}, {d.n_items} item{'' if d.n_items == 1 else 's'}{verdict}"


def binding_knob(marginal: list[AxisReturn]) -> str:
    """One sentence: where the next FLOP would help most, and what stops spending it. Only a
    step with a rate (`Step.rated`) is ranked; a step up that lowers the error at too close a
    cost for a rate is named as such, never crowned by its extrapolated rate."""
    ups = [(a, s) for a in marginal for d, s in a.steps() if d == "up"]
    helpful = [(a, s) for a, s in ups if s.d_error < 0]
    if not helpful:
        measured = [a.axis for a in marginal if a.up is not None]
        if measured:
            return (f"no measured step up ({', '.join(measured)}) lowers the error: more compute "
                    "along these axes does not help here; no limit is binding")
        return "no measured neighbour with more FLOPs along any axis: cannot tell which knob binds"
    # a rated step up is each axis's `up`: one per axis at most
    rated = [a for a, s in helpful if s.rated]
    close = [(a, s) for a, s in helpful if not s.rated]
    close_text = "; ".join(
        f"{a.axis} to {s.config.label}: {fmt_error_change(s.metrics.metric, s.d_error)}"
        f" at x{s.flops_ratio:.3g} the FLOPs" for a, s in close)
    close_why = (f"too close in cost for a rate per doubling (FLOPs ratio under "
                 f"{MIN_RATE_RATIO:.3g})")
    if not rated:
        return (f"the steps up that lower the error ({close_text}) are {close_why}: cannot tell "
                "which knob binds")
    a = min(rated, key=lambda a: (a.up.per_doubling, a.axis))
    change = fmt_error_change(a.up.metrics.metric, a.up.per_doubling)
    why = evidence(a.up)
    gain = f"{a.axis} ({a.description}): {change} of error per doubling of FLOPs " \
           f"(to {a.up.config.label}{'; ' + why if why else ''})"
    also = f"; not ranked, {close_why}: {close_text}" if close else ""
    if a.up.violations:
        lim = "; ".join(v.describe() for v in a.up.violations)
        return f"best return is along {gain}, but that step breaks the limit: {lim}{also}"
    return f"best return is along {gain}{also}"
