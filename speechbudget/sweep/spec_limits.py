"""Limits that keep a small hostile sweep file from exhausting memory or time: its size, YAML
aliases and values (`check_size`), values per axis, and the combinations a plan enumerates
(`check_plan_size`), each checked before anything large is built."""
from __future__ import annotations

import math
from typing import Any

from speechbudget.sweep.spec_types import PlanSpec

MAX_SPEC_BYTES = 1_000_000        # a sweep file is a few hundred bytes
MAX_YAML_ALIASES = 100            # alias uses (*name) in one file
MAX_YAML_NODES = 100_000          # nodes after expanding aliases
MAX_AXIS_VALUES = 10_000          # values of one axis (a range with a tiny step)
MAX_PLAN_POINTS = 100_000         # combinations a plan enumerates before building them


def check_size(raw: Any, err) -> None:
    """Refuse a structure with more than MAX_YAML_NODES nodes once aliases are expanded
    (counted without expanding; shared sub-trees are counted each time they are used)."""
    memo: dict[int, int] = {}

    def count(x: Any) -> int:
        if isinstance(x, dict):
            items = list(x.keys()) + list(x.values())
        elif isinstance(x, (list, tuple)):
            items = list(x)
        else:
            return 1
        if id(x) in memo:
            return memo[id(x)]
        memo[id(x)] = MAX_YAML_NODES + 1  # a cycle counts as too large
        n = 1
        for v in items:
            n += count(v)
            if n > MAX_YAML_NODES:
                break
        memo[id(x)] = n
        return n
    try:
        n = count(raw)
    except RecursionError:
        raise err("file", "values nested too deeply (lists or mappings inside each other "
                          "hundreds of levels deep)") from None
    if n > MAX_YAML_NODES:
        raise err("file", f"more than {MAX_YAML_NODES} values once aliases are expanded")


def check_plan_size(task: str, models: list, axes: dict[str, tuple[Any, ...]],
                    plan: PlanSpec, err) -> None:
    """The number of combinations the plan enumerates, computed before building any."""
    sizes = [len(models)] + [len(v) for v in axes.values()]
    n = sum(sizes) + 1 if plan.type == "star" else math.prod(sizes)
    if n > MAX_PLAN_POINTS:
        shape = " x ".join(str(x) for x in sizes)
        raise err("axes", f"the {plan.type} plan enumerates {n} combinations ({shape}); the "
                          f"limit is {MAX_PLAN_POINTS}: use fewer values or a star plan")
