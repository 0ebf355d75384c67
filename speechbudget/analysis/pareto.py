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
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Literal

from speechbudget.axes import Config
from speechbudget.pareto_core import non_dominated
from speechbudget.records import ConfigMetrics

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

    @property
    def label(self) -> str:
        return self.config.label

    @property
    def sort_key(self) -> tuple:
        return (self.cost, self.error, self.config.label, self.config.key)


@dataclass
class FrontierResult:
    """Every usable configuration, flagged; the frontier in order of cost; what was left out."""

    cost: str
    points: list[Point]                     # all, ordered by (cost, error, label, key)
    skipped: list[tuple[Config, str]] = field(default_factory=list)

    @property
    def frontier(self) -> list[Point]:
        return [p for p in self.points if not p.dominated]

    @property
    def dominated(self) -> list[Point]:
        return [p for p in self.points if p.dominated]


def cost_of(metrics: ConfigMetrics, cost: str) -> float | None:
    """The value of `cost` ("gflops", "rtf", "peak_mem_mb") for one configuration, or None."""
    if cost not in COSTS:
        raise ValueError(f"unknown cost {cost!r}: expected one of {', '.join(COSTS)}")
    v = getattr(metrics, cost)
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


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
            skipped.append((config, f"no {cost} value"))
        elif err is None or not math.isfinite(err):
            skipped.append((config, f"error is {err!r}"))
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


def frontiers(results: Results, costs: Iterable[str] = ("gflops", "rtf", "peak_mem_mb")
              ) -> dict[str, FrontierResult]:
    """The frontier for each cost that at least one configuration has a value for."""
    out = {}
    for c in costs:
        fr = pareto_frontier(results, c)
        if fr.points:
            out[c] = fr
    return out
