"""Pareto frontier: hand-computed answers, ties, single point, skipped points."""
from __future__ import annotations

import random

import pytest

from speechbudget.analysis.pareto import pareto_frontier


def labels(points):
    return [p.config.label for p in points]


def test_hand_computed_frontier_and_dominators(pair):
    a = pair(window=10.0, err=0.30, gflops=10)
    b = pair(window=20.0, err=0.20, gflops=20)
    c = pair(window=30.0, err=0.25, gflops=30)   # dominated by b (cheaper and better)
    d = pair(model="base", window=10.0, err=0.10, gflops=40)
    e = pair(model="base", window=20.0, err=0.35, gflops=15)  # dominated by b? no: by a? a(10,.30)
    fr = pareto_frontier([c, d, e, a, b])
    assert labels(fr.frontier) == ["tiny.en 10s", "tiny.en 20s", "base 10s"]
    dom = {p.config.label: p.dominated_by.label for p in fr.dominated}
    # e (15 GF, 0.35): dominated by a (10 GF, 0.30) -- the cheapest frontier point that dominates
    # c (30 GF, 0.25): dominated by b (20 GF, 0.20); d does not dominate it (more FLOPs)
    assert dom == {"base 20s": "tiny.en 10s", "tiny.en 30s": "tiny.en 20s"}


def test_cheapest_dominator_is_chosen(pair):
    a = pair(window=10.0, err=0.20, gflops=10)
    b = pair(window=20.0, err=0.10, gflops=20)
    x = pair(window=30.0, err=0.30, gflops=30)  # dominated by both a and b: cheapest is a
    fr = pareto_frontier([x, b, a])
    (p,) = fr.dominated
    assert p.dominated_by.label == "tiny.en 10s"


def test_exact_ties_are_both_on_frontier_in_label_order(pair):
    a = pair(window=10.0, err=0.2, gflops=10)
    b = pair(window=12.0, err=0.2, gflops=10)  # identical (cost, error)
    fr = pareto_frontier([b, a])
    assert labels(fr.frontier) == ["tiny.en 10s", "tiny.en 12s"]
    assert not fr.dominated


def test_equal_cost_higher_error_and_equal_error_higher_cost_are_dominated(pair):
    a = pair(window=10.0, err=0.2, gflops=10)
    same_cost = pair(window=12.0, err=0.3, gflops=10)
    same_err = pair(window=14.0, err=0.2, gflops=11)
    fr = pareto_frontier([same_err, same_cost, a])
    assert labels(fr.frontier) == ["tiny.en 10s"]
    assert {p.config.label: p.dominated_by.label for p in fr.dominated} == {
        "tiny.en 12s": "tiny.en 10s", "tiny.en 14s": "tiny.en 10s"}


def test_single_point_and_all_dominated_but_one(pair):
    only = pair(err=0.1, gflops=5)
    fr = pareto_frontier([only])
    assert labels(fr.frontier) == ["tiny.en 30s"] and not fr.dominated
    best = pair(window=2.0, err=0.05, gflops=1)
    rest = [pair(window=float(w), err=0.05 + w / 100, gflops=w) for w in (4, 6, 8)]
    fr = pareto_frontier(rest + [best])
    assert labels(fr.frontier) == ["tiny.en 2s"]
    assert all(p.dominated_by.label == "tiny.en 2s" for p in fr.dominated)
    assert len(fr.dominated) == 3


def test_other_costs_and_skipped_points(pair):
    a = pair(window=10.0, err=0.3, gflops=10, rtf=0.05, mem=100)
    b = pair(window=20.0, err=0.2, gflops=20, rtf=0.04, mem=300)  # faster AND better on rtf
    c = pair(window=30.0, err=0.1, gflops=30, rtf=None, mem=200)
    fr = pareto_frontier([a, b, c], "rtf")
    assert labels(fr.frontier) == ["tiny.en 20s"]
    assert [(cfg.label, why) for cfg, why in fr.skipped] == [("tiny.en 30s", "no rtf value")]
    fr = pareto_frontier([a, b, c], "peak_mem_mb")
    assert labels(fr.frontier) == ["tiny.en 10s", "tiny.en 30s"]
    with pytest.raises(ValueError, match="unknown cost 'joules'"):
        pareto_frontier([a], "joules")


def test_matches_brute_force_and_is_order_independent(pair):
    rng = random.Random(0)
    pts = [pair(window=2.0 + 0.02 * i, err=rng.choice([0.1, 0.2, 0.3, 0.4]),
                gflops=rng.choice([1, 2, 3, 4, 5])) for i in range(60)]
    fr = pareto_frontier(pts)
    def dominates(p, q):
        return (p[1].gflops <= q[1].gflops and p[1].error <= q[1].error
                and (p[1].gflops < q[1].gflops or p[1].error < q[1].error))
    brute = sorted(c.key for c, m in pts if not any(dominates(o, (c, m)) for o in pts))
    assert sorted(p.config.key for p in fr.frontier) == brute
    for p in fr.dominated:
        d = next(q for q in fr.points if q.config.key == p.dominated_by.key)
        assert not d.dominated and dominates((d.config, d.metrics), (p.config, p.metrics))
    rng.shuffle(pts)
    assert [p.config.key for p in pareto_frontier(pts).points] == [p.config.key for p in fr.points]
