"""A recommendation whose configurations have no cost measured (no GFLOPs, RTF or memory: a
backbone without a FLOPs model): the answer's sentence read 'UA 0.65; . It is ...'."""
from __future__ import annotations

from speechbudget.analysis.recommend import recommend


def test_no_cost_measured_leaves_no_empty_clause(pair):
    results = [pair(window=2.0, err=0.35, task="ser"), pair(window=1.0, err=0.45, task="ser")]
    rec = recommend(results)
    assert "; ." not in rec.message, rec.message
    assert "tiny.en 2s — UA 0.65." in rec.message, rec.message


def test_a_measured_cost_is_still_named(pair):
    rec = recommend([pair(window=2.0, err=0.35, task="ser", gflops=1.6)])
    assert "tiny.en 2s — UA 0.65; 1.6 GFLOPs." in rec.message, rec.message
