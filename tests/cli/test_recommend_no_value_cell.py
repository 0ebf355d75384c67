"""A configuration whose GFLOPs are stored as inf (no finite count: analysis counts it as not
measured): `recommend`'s table showed 'inf' where its --json and the report show null / '–',
the CLI having its own cell formatter. Both now use the one `recommend_text.fmt_cell`."""
from __future__ import annotations

import json
import math

from typer.testing import CliRunner

from speechbudget.analysis.recommend_text import fmt_cell
from speechbudget.axes import Config
from speechbudget.cli.app import app
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.report import html, markdown
from speechbudget.sweep.store import ResultsStore


def _store(path):
    st = ResultsStore(path)
    run = st.start_run({"name": "inf"}, {"hostname": "test"})
    for w, gf in ((1.0, 1.0), (2.0, math.inf)):
        c = Config(task="asr", model="tiny.en", window=w)
        st.register_config(c, gf, {"dataset": "x"}, run)
        st.commit_shard(c.key, "s0", [ItemResult(f"u{i}", True, errors=i % 2, n_ref=10)
                                      for i in range(8)], run)
        st.set_metrics(c.key, ConfigMetrics(c.key, "asr", "wer", 0.05, n_items=8, gflops=gf,
                                            rtf=0.01), run)
        st.set_config_status(c.key, "done")
    st.finish_run(run)
    st.close()
    return path


def test_recommend_shows_no_inf(tmp_path):
    path = _store(tmp_path / "inf.db")
    r = CliRunner().invoke(app, ["recommend", str(path)])
    assert r.exit_code == 0, r.output
    rows = [ln for ln in r.output.splitlines() if "tiny.en 30s" in ln or "tiny.en 2s" in ln]
    assert rows and all("inf" not in ln for ln in rows), r.output
    assert any("│ –" in ln for ln in rows), r.output
    doc = json.loads(CliRunner().invoke(app, ["recommend", str(path), "--json"]).stdout)
    gf = [x["gflops"] for x in [doc["best"], *doc["runners_up"]]]
    assert None in gf, gf


def test_one_cell_formatter():
    assert markdown.fmt_cell is fmt_cell and html.fmt_cell is fmt_cell
    assert [fmt_cell(v) for v in (None, math.inf, -math.inf, math.nan, 1.23456, -0.0, 3)] == \
        ["–", "–", "–", "–", "1.235", "0", "3"]
