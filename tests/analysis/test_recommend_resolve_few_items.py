"""While the answer's difference from the most accurate is unresolved, the answer says about how
many items would resolve it (docs/analysis.md). On a small sweep (8 utterances, 4 of them
differing) the paired CI is unbounded, too few items differ for any test, the bootstrap gives no
spread, and the estimate was silently left out: `recommend runs.db` said "(paired 95% CI
unbounded (4 items differ: too few to tell), 8 items)" and nothing about how many items would
tell. Now the delta-method spread of the WER difference gives it, at least as many items as make
the 6 differing items a 95% test needs at the rate items differed."""
from __future__ import annotations

import math

from speechbudget.analysis.recommend import recommend, resolving_items
from speechbudget.axes import Config
from speechbudget.paired import pair_items, paired_difference
from speechbudget.records import ConfigMetrics, ItemResult


def _case(worse_items: int, n: int = 8):
    cheap = Config(task="asr", model="tiny.en", window=10.0)
    dear = Config(task="asr", model="tiny.en", window=30.0)
    a = [ItemResult(f"u{i}", True, errors=1 + 2 * (i < worse_items), n_ref=25) for i in range(n)]
    b = [ItemResult(f"u{i}", True, errors=1, n_ref=25) for i in range(n)]
    wer = lambda rows: sum(r.errors for r in rows) / sum(r.n_ref for r in rows)  # noqa: E731
    res = [(cheap, ConfigMetrics(cheap.key, "asr", "wer", wer(a), n_items=n, gflops=10.0)),
           (dear, ConfigMetrics(dear.key, "asr", "wer", wer(b), n_items=n, gflops=30.0))]
    return res, {cheap.key: a, dear.key: b}


def test_an_unbounded_difference_still_says_how_many_items_would_resolve_it():
    res, items = _case(worse_items=4)
    rec = recommend(res, items=items)
    assert rec.best[0].window == 10.0 and rec.difference is not None
    assert math.isinf(rec.difference.ci_low) and rec.difference.n_differ == 4
    assert rec.items_to_resolve is not None
    # 6 differing items are the fewest a 95% test can use; 4 of 8 differ: at least 12
    assert rec.items_to_resolve >= 12
    assert f"about {rec.items_to_resolve} items would resolve" in rec.message, rec.message


def test_the_estimate_follows_the_spread():
    # the same mean difference with a larger spread needs more items
    def need(rows_a):
        b = [ItemResult(f"u{i}", True, errors=1, n_ref=25) for i in range(len(rows_a))]
        p = pair_items(rows_a, b, "wer")
        return resolving_items(paired_difference(p), p)
    even = [ItemResult(f"u{i}", True, errors=1 + 2 * (i < 4), n_ref=25) for i in range(40)]
    lumpy = [ItemResult(f"u{i}", True, errors=1 + 8 * (i < 1), n_ref=25) for i in range(40)]
    assert need(lumpy) > need(even) >= 60        # 4 of 40 differ: 6 need 60 items


def test_nothing_differs_no_estimate():
    res, items = _case(worse_items=0)
    assert recommend(res, items=items).items_to_resolve is None
