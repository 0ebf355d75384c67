"""Pareto frontiers: error against a cost (FLOPs, measured RTF, peak memory). Pure functions.

A configuration *dominates* another when it is no worse on both error and cost and strictly
better on at least one. A configuration is on the frontier when nothing dominates it.

Ties (documented, deterministic):
- Two configurations with exactly equal error and cost do not dominate each other: both are on the
  frontier (neither is better), and they are listed next to each other.
- Equal cost, different error: the higher error is dominated. Equal error, different cost: the
  more expensive one is dominated.
- Every list is ordered by (cost, error, label, key), so the same input in any order gives the
  same output.
- A dominated configuration's `dominated_by` is the *cheapest* frontier configuration that
  dominates it (ties: lower error, then label, then key): "this one is at least as accurate for
  less (or equal) compute".
Values are compared exactly (no tolerance); round them first if near-equal values should tie.

Configurations without a value for the cost (e.g. no measured RTF) or with a non-finite error
are left out of that frontier and listed in `FrontierResult.skipped` with the reason.

Two frontiers are available:
- `pareto_frontier` (the *plain* frontier): dominance on the point estimates, as above.
- `significant_frontier` (the frontier *with uncertainty*): A dominates B only when the
  dominance is significant. With per-item results of both on the same items, A dominates B when
    cost(A) <= cost(B)  and  the paired 95 % bootstrap CI of error(B) - error(A)
    (speechbudget.paired, same resampled items for both) lies entirely above 0.
  Ties under this rule:
  - a cheaper configuration whose error cannot be told apart from a dearer one's does *not*
    dominate it: both stay on the frontier (the data do not say the dearer one buys nothing);
  - equal cost: the significantly worse one is dominated, a noisy difference keeps both;
  - configurations without per-item results on shared items cannot be shown to be dominated
    and stay on the frontier, with a note in `FrontierResult.notes`;
  - **different item sets** (a configuration scored items the other did not, or an item failed
    under one of them): the pair is compared on the intersection, the items both scored, as
    `recommend`'s tie group is (one rule for one page). The point estimates (each on its own
    items) must agree (error(A) < error(B)); the evidence's `n_items` / `dropped` say how many
    items were paired and left out, and a note names every dominance shown on part of the
    items. A pair sharing no scored item (or only items without reference words) is not
    compared; a configuration dominated on the point estimates by nothing it shares items with
    stays on the frontier, with a note;
  - each "A dominates B" is one pairwise test at the stated level (no correction for the many
    pairs: a frontier point is kept unless one comparison shows it beaten);
  - `dominated_by` is the cheapest configuration that significantly dominates it (ties: lower
    error, label, key) and `evidence` the paired difference that shows it.
  Significant dominance implies plain dominance (the CI above 0 means error(B) > error(A)), so
  the significant frontier contains the plain one; the points it adds are those the plain
  frontier drops on noise.

Error bars: `Point.error_ci` is the configuration's own 95 % CI of its error (from the
metrics' ci_low/ci_high, flipped for higher-is-better metrics such as UA), and
`FrontierResult.error_bars()` lists one `ErrorBar` per point (cost, error, low, high, on the
frontier or not) for plotting.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Literal

from speechbudget.axes import Config
from speechbudget.paired import RATE_METRICS, PairedDifference, pair_items, paired_difference
from speechbudget.pareto_core import non_dominated
from speechbudget.records import ConfigMetrics, ItemResult

Cost = Literal["gflops", "rtf", "peak_mem_mb"]
COSTS: dict[str, str] = {
    "gflops": "GFLOPs per item",
    "rtf": "real-time factor (s per audio s, measured)",
    "peak_mem_mb": "peak memory (MB)",
}
Results = list[tuple[Config, ConfigMetrics]]


@dataclass(frozen=True)
class Point:
    """One configuration placed on an (error, cost) plane."""

    config: Config
    metrics: ConfigMetrics
    cost: float
    error: float
    dominated: bool = False
    dominated_by: Config | None = None
    evidence: PairedDifference | None = None   # significant frontier: error(self) - error(by)

    @property
    def label(self) -> str:
        return self.config.label

    @property
    def error_ci(self) -> tuple[float, float] | None:
        """The 95 % CI of this configuration's error (its metrics' CI, as an error), or None."""
        m = self.metrics
        if m.ci_low is None or m.ci_high is None:
            return None
        lo, hi = float(m.ci_low), float(m.ci_high)
        if m.higher_is_better:
            lo, hi = 1.0 - hi, 1.0 - lo
        return (min(lo, hi), max(lo, hi))

    @property
    def sort_key(self) -> tuple:
        return (self.cost, self.error, self.config.label, self.config.key)


@dataclass
class FrontierResult:
    """Every usable configuration, flagged; the frontier in order of cost; what was left out."""

    cost: str
    points: list[Point]                     # all, ordered by (cost, error, label, key)
    skipped: list[tuple[Config, str]] = field(default_factory=list)
    rule: str = "point"                     # "point" (plain) | "significant" (paired CIs)
    level: float | None = None              # significant: the paired CI level
    notes: list[str] = field(default_factory=list)

    def error_bars(self) -> list["ErrorBar"]:
        """One error bar per point, in the order of `points` (for the frontier plot)."""
        out = []
        for p in self.points:
            ci = p.error_ci
            out.append(ErrorBar(p.config.label, p.config.key, p.cost, p.error,
                                None if ci is None else ci[0], None if ci is None else ci[1],
                                not p.dominated))
        return out

    @property
    def frontier(self) -> list[Point]:
        return [p for p in self.points if not p.dominated]

    @property
    def dominated(self) -> list[Point]:
        return [p for p in self.points if p.dominated]


@dataclass(frozen=True)
class ErrorBar:
    """One point of a frontier plot: its cost, its error and the 95 % CI of the error."""

    label: str
    key: str
    cost: float
    error: float
    low: float | None          # None: the metrics carry no CI
    high: float | None
    on_frontier: bool


def cost_of(metrics: ConfigMetrics, cost: str) -> float | None:
    """The value of `cost` ("gflops", "rtf", "peak_mem_mb") for one configuration, or None."""
    if cost not in COSTS:
        raise ValueError(f"unknown cost {cost!r}: expected one of {', '.join(COSTS)}")
    v = getattr(metrics, cost)
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def no_error_reason(metrics: ConfigMetrics) -> str:
    """Why a configuration has no error value: every item failed only where none was scored;
    scored items without one (a rate metric: no reference words among them, as for recordings
    without speech) are said so, as `recommend`'s note says it."""
    if not metrics.n_items:
        return "no error value (every item failed)"
    why = ": they have no reference words" if metrics.metric in RATE_METRICS else ""
    return f"no error value over its {metrics.n_items} scored item(s){why}"


def pareto_frontier(results: Iterable[tuple[Config, ConfigMetrics]],
                    cost: str = "gflops") -> FrontierResult:
    """Flag each configuration as on the frontier of error vs `cost` or dominated (and by what).

    O(n log n) (speechbudget.pareto_core, shared with the adaptive sweep).
    """
    usable: list[Point] = []
    skipped: list[tuple[Config, str]] = []
    for config, metrics in results:
        c = cost_of(metrics, cost)
        err = metrics.error
        if c is None:
            raw = getattr(metrics, cost)
            skipped.append((config, f"no {cost} value" if raw is None else f"{cost} is {raw!r}"))
        elif err is None or not math.isfinite(err):
            skipped.append((config, no_error_reason(metrics) if err is None
                            or math.isnan(err) else f"error is {err!r}"))
        else:
            usable.append(Point(config, metrics, c, float(err)))
    usable = _ordered(usable)

    # the shared core (speechbudget.pareto_core); `usable` is already in its order
    on_front = non_dominated([p.cost for p in usable], [p.error for p in usable])

    front = [p for p, f in zip(usable, on_front) if f]
    # frontier errors are non-increasing along it; the cheapest frontier point with error <= e
    # is the first of the suffix whose error <= e.
    points: list[Point] = []
    for p, f in zip(usable, on_front):
        if f:
            points.append(p)
            continue
        first = _first_at_most(front, p.error)
        dom = front[first]
        assert dom.cost <= p.cost and dom.error <= p.error, (dom, p)
        points.append(Point(p.config, p.metrics, p.cost, p.error, True, dom.config))
    return FrontierResult(cost=cost, points=points, skipped=skipped)


def _ordered(points: list[Point]) -> list[Point]:
    """Sort by (cost, error, label, key); label and key (hashing) only computed for exact ties."""
    points = sorted(points, key=lambda p: (p.cost, p.error))
    out: list[Point] = []
    i = 0
    while i < len(points):
        j = i + 1
        while j < len(points) and (points[j].cost, points[j].error) == (points[i].cost,
                                                                        points[i].error):
            j += 1
        group = points[i:j]
        out += sorted(group, key=lambda p: p.sort_key) if len(group) > 1 else group
        i = j
    return out


def _first_at_most(front: list[Point], error: float) -> int:
    lo, hi = 0, len(front)
    while lo < hi:  # errors along the front are non-increasing
        mid = (lo + hi) // 2
        if front[mid].error <= error:
            hi = mid
        else:
            lo = mid + 1
    return lo


def significant_frontier(results: Iterable[tuple[Config, ConfigMetrics]],
                         items: dict[str, list[ItemResult]], cost: str = "gflops",
                         level: float = 0.95, seed: int = 0,
                         n_resamples: int = 2000,
                         tested: dict[tuple, PairedDifference | None] | None = None
                         ) -> FrontierResult:
    """The frontier with uncertainty (module docstring): a configuration is dominated only by one
    no more expensive that is significantly more accurate on the items both scored (paired
    bootstrap CI at `level`). `items`: per-item results by config key. `tested`: the paired
    tests already made, shared between the frontiers of one set of results (a pair's test does
    not depend on the cost; each frontier of the report tested the same pairs again); it is
    filled in here."""
    tested = {} if tested is None else tested
    plain = pareto_frontier(results, cost)
    pts = plain.points
    notes: list[str] = []
    keys = [p.config.key for p in pts]    # (Config.key hashes the configuration each time)
    missing = [p.label for p, k in zip(pts, keys) if not items.get(k)]
    if missing:
        notes.append(f"{len(missing)} configuration(s) without per-item results cannot be shown "
                     f"to be dominated and stay on the frontier: {', '.join(missing)}")
    out: list[Point] = []
    partial: list[str] = []        # dominance shown on part of either configuration's items
    unpaired: list[str] = []       # plain-dominated, but no dominator shares a testable item
    for b, kb in zip(pts, keys):
        found: tuple[Point, PairedDifference] | None = None
        candidates = n_tested = 0     # could dominate b (no dearer, lower error); of them paired
        if b.dominated and items.get(kb):   # significant implies plain dominance
            for a, ka in zip(pts, keys):  # in (cost, error, label, key) order: cheapest first
                if a is b or a.cost > b.cost or a.error >= b.error or not items.get(ka):
                    continue
                candidates += 1
                memo = (kb, ka, b.metrics.metric, level, n_resamples, seed)
                if memo not in tested:
                    pi = pair_items(items[kb], items[ka], b.metrics.metric,
                                    (f"{b.label}, {kb}", f"{a.label}, {ka}"))
                    tested[memo] = (paired_difference(pi, level=level, n_resamples=n_resamples,
                                                      seed=seed) if pi.testable else None)
                d = tested[memo]
                if d is None:             # no shared item (or none with reference words)
                    continue
                n_tested += 1
                if d.ci_low > 0 and d.diff > 0:
                    found = (a, d)
                    break
            if candidates and not n_tested:
                unpaired.append(b.label)
        if found is None:
            out.append(Point(b.config, b.metrics, b.cost, b.error))
        else:
            a, d = found
            out.append(Point(b.config, b.metrics, b.cost, b.error, True, a.config, d))
            if d.dropped:
                partial.append(f"{b.label} by {a.label} on {d.n_items} items "
                               f"({d.dropped} scored by only one of them, or failed, left out)")
    if partial:
        notes.append("dominance shown on the items both configurations scored, not on all of "
                     "either's (their errors as shown are each on its own items): "
                     + "; ".join(partial))
    if unpaired:
        notes.append(f"{len(unpaired)} configuration(s) dominated on the point estimates share "
                     "no scored item with reference words with any configuration that dominates "
                     "them, so no paired test was possible and they stay on the frontier: "
                     + ", ".join(unpaired))
    return FrontierResult(cost, out, plain.skipped, "significant", level, notes)


def frontiers(results: Results, costs: Iterable[str] = ("gflops", "rtf", "peak_mem_mb")
              ) -> dict[str, FrontierResult]:
    """The frontier for each cost that at least one configuration has a value for."""
    out = {}
    for c in costs:
        fr = pareto_frontier(results, c)
        if fr.points:
            out[c] = fr
    return out
