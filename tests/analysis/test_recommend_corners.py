"""Recommendation corner cases with per-item results built in memory: budgets exactly at a cost,
below everything, several limits, and evidence from a single item."""
from __future__ import annotations

import json

import numpy as np

from speechbudget.analysis.pareto import significant_frontier
from speechbudget.analysis.limits import Limits
from speechbudget.analysis.recommend import recommend
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult


def config(window, gflops, errors, words, rtf=None, mem=None):
    c = Config(task="asr", model="tiny.en", window=float(window))
    items = [ItemResult(f"u{i:03d}", True, errors=int(e), n_ref=int(n))
             for i, (e, n) in enumerate(zip(errors, words))]
    m = ConfigMetrics(c.key, "asr", "wer", float(np.sum(errors) / np.sum(words)),
                      n_items=len(items), gflops=gflops, rtf=rtf, peak_mem_mb=mem)
    return (c, m), items


def split(configs):
    return [p for p, _ in configs], {p[0].key: it for p, it in configs}


def test_one_shared_item_is_no_evidence_of_a_difference():
    # one utterance of 26 words: 30 s has 1 error, 10 s has 2. The recommendation said the 30 s
    # configuration "is significantly more accurate than every other configuration (paired
    # 95%)", and the significant frontier called 10 s dominated
    res, items = split([config(30, 300.0, [1], [26]), config(10, 100.0, [2], [26])])
    rec = recommend(res, Limits(), items=items)
    assert "significantly more accurate" not in rec.message
    assert [(t.config.label, t.reason) for t in rec.tie_group] == [
        ("tiny.en 30s", "most accurate"), ("tiny.en 10s", "tied")]
    assert rec.best[0].label == "tiny.en 10s" and rec.items_to_resolve is None
    d = rec.to_dict()
    json.dumps(d, allow_nan=False)          # the unbounded CI is null, not Infinity
    assert d["difference"]["ci_low"] is None and d["difference"]["significant"] is False
    fr = significant_frontier(res, items)
    assert not any(p.dominated for p in fr.points)


def test_a_budget_exactly_at_a_cost_admits_it_and_several_limits_combine():
    rng = np.random.default_rng(3)
    words = rng.integers(10, 40, 80)
    base = rng.binomial(words, 0.05)
    res, items = split([config(30, 300.0, base, words, rtf=0.3, mem=500),
                        config(20, 200.0, base + rng.binomial(words, 0.05), words, rtf=0.2,
                               mem=400),
                        config(10, 100.0, base + rng.binomial(words, 0.15), words, rtf=0.1,
                               mem=300)])
    rec = recommend(res, Limits(max_gflops=200.0), items=items)
    assert rec.best[0].label == "tiny.en 20s" and rec.n_feasible == 2
    rec = recommend(res, Limits(max_gflops=300.0, max_rtf=0.2, max_mem_mb=300.0), items=items)
    assert rec.best[0].label == "tiny.en 10s" and rec.n_feasible == 1
    rec = recommend(res, Limits(max_gflops=99.0), items=items)
    assert rec.best is None and "Closest: tiny.en 10s" in rec.message
    assert "GFLOPs 100 > 99 (over by 1.0%)" in rec.message


def test_configurations_sharing_no_item_are_not_called_beaten():
    # 10 s ran on other utterances than 30 s: no paired test was possible, yet the message said
    # 30 s "is significantly more accurate than every other configuration within the limits"
    rng = np.random.default_rng(5)
    words = rng.integers(10, 40, 40)
    base = rng.binomial(words, 0.05)
    (c30, m30), i30 = config(30, 300.0, base, words)
    (c20, m20), i20 = config(20, 200.0, base + rng.binomial(words, 0.1), words)
    (c10, m10), i10 = config(10, 100.0, base + 1, words)
    i10 = [ItemResult("other-" + r.item_id, r.ok, errors=r.errors, n_ref=r.n_ref) for r in i10]
    res = [(c30, m30), (c20, m20), (c10, m10)]
    rec = recommend(res, Limits(), items={c30.key: i30, c20.key: i20, c10.key: i10})
    assert rec.best[0].label == "tiny.en 30s"
    assert "significantly more accurate than every other configuration within" not in rec.message
    assert "every other configuration it shares items with (1 share none)" in rec.message
    assert any("share no scored item with the most accurate, tiny.en 30s" in n
               and n.endswith("tiny.en 10s") for n in rec.notes)
