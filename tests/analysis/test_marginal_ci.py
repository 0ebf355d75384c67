"""The marginal return of each step carries the paired 95% CI of its error change (the tie
group's test, on the items both scored), and the binding sentence says whether the data tell the
step from no change. Before, `recommend runs.db --max-gflops 20` on an 8-utterance sweep said
"best return is along xT: -4.68 WER points of error per doubling of FLOPs" for a change of 4
items, which the same answer's tie group called "unbounded (4 items differ: too few to tell)":
a noisy step crowned as the knob to turn, with no CI although one exists."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from speechbudget.analysis.recommend import recommend
from speechbudget.axes import Config
from speechbudget.cli import app
from speechbudget.records import ConfigMetrics, ItemResult

runner = CliRunner()
N = 40


def _wer(rows):
    return sum(r.errors for r in rows) / sum(r.n_ref for r in rows)


def _case(better_items: int):
    """The answer (tiny.en 10 s) and a step up along xT (tiny.en 30 s, out of the GFLOPs limit)
    that has one error fewer on `better_items` of the N items."""
    short = Config(task="asr", model="tiny.en", window=10.0)
    long = Config(task="asr", model="tiny.en", window=30.0)
    a = [ItemResult(f"u{i:02d}", True, errors=2, n_ref=10) for i in range(N)]
    b = [ItemResult(f"u{i:02d}", True, errors=2 - (i < better_items), n_ref=10)
         for i in range(N)]
    res = [(short, ConfigMetrics(short.key, "asr", "wer", _wer(a), n_items=N, gflops=10.0)),
           (long, ConfigMetrics(long.key, "asr", "wer", _wer(b), n_items=N, gflops=30.0))]
    return res, {short.key: a, long.key: b}


def _up(rec):
    return next(a for a in rec.marginal if a.axis == "xT").up


def test_a_step_on_few_differing_items_is_not_told_from_no_change():
    from speechbudget.analysis import Limits
    res, items = _case(better_items=3)
    rec = recommend(res, Limits(max_gflops=20), items=items)
    up = _up(rec)
    assert up.d_error < 0 and up.difference is not None
    assert up.difference.diff == up.d_error and up.significant is False
    assert "unbounded (3 items differ: too few to tell)" in rec.binding, rec.binding
    assert "not told apart from no change" in rec.binding, rec.binding


def test_a_clear_step_has_its_ci_and_no_doubt():
    from speechbudget.analysis import Limits
    res, items = _case(better_items=30)
    rec = recommend(res, Limits(max_gflops=20), items=items)
    up = _up(rec)
    d = up.difference
    assert up.significant is True and d.ci_high < 0 and d.n_items == N
    assert f"paired 95% CI of the change {d.ci_text(100)} WER points, {N} items" in rec.binding
    assert "not told apart" not in rec.binding
    step = next(a for a in rec.to_dict()["marginal_returns"] if a["axis"] == "xT")["up"]
    assert step["difference"]["ci_high"] == d.ci_high and step["difference"]["significant"]


def test_without_per_item_results_there_is_no_ci():
    from speechbudget.analysis import Limits
    res, _ = _case(better_items=30)
    up = _up(recommend(res, Limits(max_gflops=20)))
    assert up.difference is None and up.significant is None


def test_the_cli_table_shows_the_ci(tmp_path, item_store):
    store = item_store(tmp_path / "runs.db", [
        (10.0, 10.0, [(f"u{i:02d}", 2, 10) for i in range(N)]),
        (30.0, 30.0, [(f"u{i:02d}", 2 - (i < 3), 10) for i in range(N)])])
    r = runner.invoke(app, ["recommend", str(store), "--max-gflops", "20"])
    assert r.exit_code == 0, r.output
    assert "95% CI (paired)" in r.output and "unbounded (3 items differ" in r.output
    j = json.loads(runner.invoke(app, ["recommend", str(store), "--max-gflops", "20",
                                       "--json"]).output)
    up = next(a for a in j["marginal_returns"] if a["axis"] == "xT")["up"]
    assert up["difference"]["ci_low"] is None and up["difference"]["n_items"] == N


def test_each_step_is_paired_once_and_its_ci_is_on_the_pairs_of_its_change(monkeypatch):
    """The change and its CI come from one pairing of the two configurations' items. Before,
    `_shared_difference` paired them for the change and `_with_ci` paired them again for the
    CI: two pair_items calls per step shown (the same pairs, paired twice)."""
    from speechbudget.analysis import marginal_returns as mr
    res, items = _case(better_items=30)
    calls = []
    real = mr.pair_items

    def spy(a, b, metric):
        calls.append((a, b))
        return real(a, b, metric)

    monkeypatch.setattr(mr, "pair_items", spy)
    marginal = mr.marginal_returns(res[0], res, items=items)
    up = next(a for a in marginal if a.axis == "xT").up
    assert len(calls) == 1, len(calls)                 # one step shown: xT up
    assert calls[0] == (items[res[1][0].key], items[res[0][0].key])
    assert up.difference.diff == up.d_error and up.difference.n_items == up.n_items == N


def test_one_paired_item_is_written_in_the_singular():
    """'1 item', not '1 items', in the step's evidence and the recommendation's sentence."""
    from speechbudget.analysis.marginal_returns import evidence
    short = Config(task="asr", model="tiny.en", window=10.0)
    long = Config(task="asr", model="tiny.en", window=30.0)
    a = [ItemResult("u00", True, errors=2, n_ref=10)]
    b = [ItemResult("u00", True, errors=1, n_ref=10)]
    res = [(short, ConfigMetrics(short.key, "asr", "wer", 0.2, n_items=1, gflops=10.0)),
           (long, ConfigMetrics(long.key, "asr", "wer", 0.1, n_items=1, gflops=30.0))]
    from speechbudget.analysis import Limits
    rec = recommend(res, Limits(max_gflops=20), items={short.key: a, long.key: b})
    text = evidence(_up(rec))
    assert "1 item" in text and "1 items" not in text
