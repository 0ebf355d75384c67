"""The marginal return of a step compares the two configurations on the items both scored, as
the tie group and the frontier do: the answer failed on the hardest items (each 9 errors in
10 words under the neighbour), so its error over its own items was lower, and the step
up read as no help ('+7.3 WER points') although it is better on every item both scored."""
from __future__ import annotations

from speechbudget.analysis.recommend import recommend
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult


def _wer(rows):
    ok = [r for r in rows if r.ok]
    return sum(r.errors for r in ok) / sum(r.n_ref for r in ok)


def _case():
    easy = [(f"u{i:02d}", 1 + (i % 3 == 0)) for i in range(40)]          # errors of the answer
    cheap = Config(task="asr", model="tiny.en", window=10.0)
    dear = Config(task="asr", model="base", window=10.0)
    a = [ItemResult(i, True, errors=e, n_ref=10) for i, e in easy] + \
        [ItemResult(f"h{i}", False, error="RuntimeError: out of memory") for i in range(10)]
    b = [ItemResult(i, True, errors=e - 1, n_ref=10) for i, e in easy] + \
        [ItemResult(f"h{i}", True, errors=9, n_ref=10) for i in range(10)]
    res = [(cheap, ConfigMetrics(cheap.key, "asr", "wer", _wer(a), n_items=40, n_failed=10,
                                 gflops=10.0)),
           (dear, ConfigMetrics(dear.key, "asr", "wer", _wer(b), n_items=50, gflops=25.0))]
    return res, {cheap.key: a, dear.key: b}, cheap, dear


def test_the_step_is_measured_on_the_items_both_scored():
    res, items, cheap, dear = _case()
    assert res[1][1].error > res[0][1].error            # over their own items, dearer is worse
    rec = recommend(res, items=items)
    assert rec.best[0].key == cheap.key
    up = next(a for a in rec.marginal if a.axis == "xN").up
    assert up.config.key == dear.key
    assert up.d_error == -0.1 and (up.n_items, up.n_left_out) == (40, 10)
    assert rec.binding.startswith("best return is along xN"), rec.binding
    assert any("items both configurations scored: base 10s on 40 (10 left out)" in n
               for n in rec.notes), rec.notes
    assert rec.to_dict()["marginal_returns"][0]["up"]["n_items"] == 40


def test_without_per_item_results_each_error_is_its_own():
    res, _, cheap, dear = _case()
    rec = recommend(res)
    up = next(a for a in rec.marginal if a.axis == "xN").up
    assert up.n_items is None and up.d_error == res[1][1].error - res[0][1].error
