"""The exact-tie rules docs/analysis.md states for the recommendation (added with this test: the
docs named the frontier's tie rules, not the answer's): equal errors -> the most accurate is the
one with fewer GFLOPs; equal cost in the tie group -> the lower error, then the label; equal
errors on the same items are tied, not one crowned over the other."""
from __future__ import annotations

from speechbudget.analysis.recommend import recommend
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult


def _cfg(window, model="tiny.en"):
    return Config(task="asr", model=model, window=window)


def _rows(errors):
    return [ItemResult(f"u{i:02d}", True, errors=e, n_ref=20) for i, e in enumerate(errors)]


def _pair(c, rows, gflops, rtf=None):
    wer = sum(r.errors for r in rows) / sum(r.n_ref for r in rows)
    return c, ConfigMetrics(c.key, "asr", "wer", wer, n_items=len(rows), gflops=gflops, rtf=rtf)


def test_equal_errors_most_accurate_is_the_cheaper_and_both_are_tied():
    same = [1, 2, 0, 3] * 10
    a, b = _cfg(30.0), _cfg(20.0)
    res = [_pair(a, _rows(same), 40.0), _pair(b, _rows(same), 30.0)]
    rec = recommend(res, items={a.key: _rows(same), b.key: _rows(same)})
    assert rec.most_accurate[0].key == b.key and rec.best[0].key == b.key
    assert {t.config.key: t.reason for t in rec.tie_group} == {b.key: "most accurate",
                                                               a.key: "tied"}


def test_equal_cost_in_the_tie_group_goes_to_the_lower_error_then_the_label():
    base = [2, 1, 0, 3] * 10
    near = list(base)
    near[0] += 1                      # one item one error worse: tied, higher error
    top, x, y = _cfg(30.0), _cfg(10.0), _cfg(10.0, "tiny")
    res = [_pair(top, _rows(base), 40.0), _pair(x, _rows(near), 20.0),
           _pair(y, _rows(base), 20.0)]
    items = {top.key: _rows(base), x.key: _rows(near), y.key: _rows(base)}
    rec = recommend(res, items=items)
    assert rec.best[0].key == y.key          # equal GFLOPs: the lower error
    res[2] = _pair(y, _rows(near), 20.0)
    items[y.key] = _rows(near)
    rec = recommend(res, items=items)
    # equal GFLOPs and equal error: by label ("tiny 10s" < "tiny.en 10s")
    assert rec.best[0].label == min(x.label, y.label) == "tiny 10s"
    assert "cannot be told apart" in rec.message
