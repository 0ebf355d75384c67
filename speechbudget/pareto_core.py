"""The Pareto frontier of (cost, error) points, both minimised: the one implementation that the
sweep (adaptive search) and the analysis (frontiers, report) share. Pure arithmetic on floats.

A point is dominated when another is no worse on both and strictly better on one. Ties:
- exactly equal (cost, error): neither dominates the other, both are on the frontier;
- equal cost, different error: the higher error is dominated;
- equal error, different cost: the more expensive one is dominated.
Values are compared exactly (no tolerance).
"""
from __future__ import annotations

import math
from typing import Sequence


def frontier_order(costs: Sequence[float], errors: Sequence[float]
                   ) -> tuple[list[int], list[bool]]:
    """(order, on_front): the indices sorted by (cost, error, index), and for each of them
    whether it is on the frontier. O(n log n): sweep groups of equal cost, keeping the lowest
    error seen at strictly lower cost."""
    if len(costs) != len(errors):
        raise ValueError(f"{len(costs)} costs but {len(errors)} errors")
    order = sorted(range(len(costs)), key=lambda i: (costs[i], errors[i], i))
    on_front = [False] * len(order)
    best_below = math.inf
    i = 0
    while i < len(order):
        j = i
        while j < len(order) and costs[order[j]] == costs[order[i]]:
            j += 1
        group_min = errors[order[i]]
        for k in range(i, j):
            on_front[k] = errors[order[k]] == group_min and group_min < best_below
        best_below = min(best_below, group_min)
        i = j
    return order, on_front


def non_dominated(costs: Sequence[float], errors: Sequence[float]) -> list[bool]:
    """For each point (in the given order), whether it is on the frontier."""
    order, on_front = frontier_order(costs, errors)
    out = [False] * len(order)
    for i, f in zip(order, on_front):
        out[i] = f
    return out
