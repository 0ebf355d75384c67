"""`recommend --json` carries what the text answer shows of each configuration: the metric's
95% CI (the text prints "WER 8% (95% CI 6-10%)"), the batch-1 RTF percentiles (the quantity
--max-rtf bounds under --rtf-stat p90, printed beside the throughput RTF) and the failed items.
Before, `best`, the runners-up, the tie group and `closest` had none of them."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from speechbudget.axes import Config
from speechbudget.cli import app
from speechbudget.records import ConfigMetrics

runner = CliRunner()


def _results():
    out = []
    for i, w in enumerate((10.0, 30.0)):
        c = Config(task="asr", model="tiny.en", window=w)
        err = 0.10 - 0.02 * i
        out.append((c, ConfigMetrics(c.key, "asr", "wer", err, ci_low=err - 0.02,
                                     ci_high=err + 0.02, n_items=10, n_failed=i,
                                     gflops=10.0 + w, rtf=0.01 * w, rtf_p50=0.02 * w,
                                     rtf_p90=0.03 * w)))
    return out


def test_json_answer_has_the_ci_the_percentiles_and_failed_items(tmp_path, metrics_store):
    res = _results()
    store = metrics_store(tmp_path / "runs.db", res)
    r = runner.invoke(app, ["recommend", str(store), "--max-rtf", "1", "--rtf-stat", "p90",
                            "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    c, m = res[1]          # the most accurate (no per-item results: the lowest error)
    assert d["best"]["key"] == c.key
    assert d["best"]["ci_low"] == m.ci_low and d["best"]["ci_high"] == m.ci_high
    assert d["best"]["rtf_p50"] == m.rtf_p50 and d["best"]["rtf_p90"] == m.rtf_p90
    assert d["best"]["n_failed"] == 1
    assert f"{100 * m.ci_low:.3g}-{100 * m.ci_high:.3g}%" in d["message"]   # the text's CI
    ru = d["runners_up"][0]
    assert (ru["ci_low"], ru["rtf_p90"], ru["n_failed"]) == (res[0][1].ci_low,
                                                             res[0][1].rtf_p90, 0)


def test_json_closest_miss_has_the_bounded_percentile(tmp_path, metrics_store):
    res = _results()
    store = metrics_store(tmp_path / "runs.db", res)
    r = runner.invoke(app, ["recommend", str(store), "--max-rtf", "0.1", "--rtf-stat", "p90",
                            "--json"])
    assert r.exit_code == 1, r.output
    d = json.loads(r.output)
    assert d["closest"]["rtf_p90"] == res[0][1].rtf_p90      # 0.3: what misses the 0.1 limit
    assert d["closest"]["ci_high"] == res[0][1].ci_high
