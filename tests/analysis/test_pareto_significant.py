"""Pareto frontier with uncertainty: dominance only when the paired CI shows it."""
from __future__ import annotations

import numpy as np

from speechbudget.analysis.pareto import pareto_frontier, significant_frontier
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult

N_ITEMS, WORDS = 60, 20


def scored(window: float, errors: np.ndarray, gflops: float, model: str = "tiny.en"):
    c = Config(task="asr", model=model, window=window)
    items = [ItemResult(f"u{i:03d}", ok=True, errors=int(e), n_ref=WORDS)
             for i, e in enumerate(errors)]
    wer = float(errors.sum()) / (WORDS * len(errors))
    m = ConfigMetrics(c.key, "asr", "wer", wer, ci_low=wer * 0.8, ci_high=wer * 1.2,
                      n_items=len(errors), gflops=gflops)
    return (c, m), items


def base_errors(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4, N_ITEMS)


def test_noisy_near_tie_is_not_dominated_but_is_in_the_plain_frontier():
    e = base_errors()
    cheap, cheap_items = scored(10.0, e, gflops=10)
    noisy = e.copy()
    rng = np.random.default_rng(3)
    up = rng.choice(N_ITEMS, 6, replace=False)
    down = np.setdiff1d(np.arange(N_ITEMS), up)[:5]
    noisy[up] += 1                       # +6 errors on some items, -5 on others: net +1
    noisy[down] = np.maximum(noisy[down] - 1, 0)
    assert noisy.sum() > e.sum()
    dear, dear_items = scored(30.0, noisy, gflops=30)
    results = [cheap, dear]
    items = {cheap[0].key: cheap_items, dear[0].key: dear_items}
    plain = pareto_frontier(results)
    assert [p.label for p in plain.frontier] == ["tiny.en 10s"]    # point estimates: dominated
    sig = significant_frontier(results, items)
    assert sig.rule == "significant"
    assert [p.label for p in sig.frontier] == ["tiny.en 10s", "tiny.en 30s"]
    assert not sig.dominated


def test_clear_dominance_is_significant_with_evidence():
    e = base_errors()
    cheap, cheap_items = scored(10.0, e, gflops=10)
    worse = e + (np.arange(N_ITEMS) % 3 != 0)      # +1 error on two items in three
    dear, dear_items = scored(30.0, worse, gflops=30)
    results = [dear, cheap]
    sig = significant_frontier(results, {cheap[0].key: cheap_items, dear[0].key: dear_items})
    (p,) = sig.dominated
    assert p.label == "tiny.en 30s" and p.dominated_by.label == "tiny.en 10s"
    assert p.evidence is not None and p.evidence.ci_low > 0
    assert p.evidence.n_items == N_ITEMS


def test_dominated_by_is_the_cheapest_significant_dominator_and_missing_items_stay():
    e = base_errors()
    a, a_items = scored(10.0, e, gflops=10)
    b, b_items = scored(20.0, e, gflops=20)              # same errors as a: tied with a
    worst, w_items = scored(30.0, e + 2, gflops=30)      # clearly worse than both
    lone = (Config(task="asr", model="base", window=30.0),
            ConfigMetrics("x", "asr", "wer", 0.9, n_items=5, gflops=40))
    results = [worst, b, a, lone]
    sig = significant_frontier(results, {a[0].key: a_items, b[0].key: b_items,
                                         worst[0].key: w_items})
    dom = {p.label: p.dominated_by.label for p in sig.dominated}
    assert dom == {"tiny.en 30s": "tiny.en 10s"}
    # b: equal error at higher cost is plain-dominated, but not significantly
    assert {p.label for p in sig.frontier} == {"tiny.en 10s", "tiny.en 20s", "base 30s"}
    assert any("base 30s" in n for n in sig.notes)


def test_error_bars_expose_each_points_ci_as_an_error():
    e = base_errors()
    a, _ = scored(10.0, e, gflops=10)
    c = Config(task="ser", model="tiny.en", window=4.0)
    ser = (c, ConfigMetrics(c.key, "ser", "ua", 0.7, ci_low=0.6, ci_high=0.75, gflops=5))
    fr = pareto_frontier([a, ser])
    bars = {b.label: b for b in fr.error_bars()}
    wer = a[1].value
    assert np.isclose(bars["tiny.en 10s"].low, wer * 0.8)
    assert np.isclose(bars["tiny.en 10s"].high, wer * 1.2)
    ser_bar = next(b for lbl, b in bars.items() if lbl != "tiny.en 10s")
    assert np.isclose(ser_bar.error, 0.3) and np.isclose(ser_bar.low, 0.25)
    assert np.isclose(ser_bar.high, 0.4)
