"""What the recommendation's message claims must hold: with one configuration within the limits
there is nothing it was compared with, and a cost nobody measured cannot make one "cheapest"."""
from __future__ import annotations

from speechbudget.analysis.limits import Limits
from speechbudget.analysis.recommend import recommend
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult


def scored(window: float, errors: list[int], gflops: float, n_ref: int = 20):
    c = Config(task="asr", model="tiny.en", window=window)
    items = [ItemResult(f"u{i}", True, errors=e, n_ref=n_ref) for i, e in enumerate(errors)]
    m = ConfigMetrics(c.key, "asr", "wer", sum(errors) / (n_ref * len(errors)),
                      n_items=len(errors), gflops=gflops)
    return (c, m), items


def run(*configs, **kw):
    pairs = [p for p, _ in configs]
    items = {p[0].key: it for p, it in configs}
    return recommend(pairs, kw.pop("limits", Limits()), items=items, **kw)


def test_one_configuration_is_not_called_significantly_better_than_others():
    only = scored(30, [1, 2, 0, 3, 1, 2], 40)
    rec = run(only)
    assert "significantly" not in rec.message
    assert "only configuration" in rec.message
    # one of two within the limits: the other one was never compared with it
    dear = scored(20, [0, 0, 0, 1, 0, 0], 80)
    rec = run(only, dear, limits=Limits(max_gflops=50))
    assert rec.best[0].window == 30.0
    assert "significantly" not in rec.message and "only configuration within the limits" \
        in rec.message


def test_a_cost_nobody_measured_does_not_make_a_configuration_the_cheapest():
    # two tied configurations, no peak memory measured: the pick is by error, then label
    a = scored(30, [1, 2, 0, 3, 1, 2, 1, 0], 40)
    b = scored(20, [1, 2, 1, 2, 1, 2, 1, 0], 30)
    rec = run(a, b, cost="peak_mem_mb")
    assert len(rec.tie_group) == 2
    assert "cheapest by peak memory" not in rec.message
    assert "none of them has peak memory measured" in rec.message
    # measured GFLOPs still say "cheapest"
    assert "cheapest by GFLOPs" in run(a, b).message
