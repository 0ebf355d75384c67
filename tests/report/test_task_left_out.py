"""A store of two tasks, one of which failed on every item: the report of the other is written,
and says which task was left out and why (it refused the whole store, exit 2)."""
from __future__ import annotations

import json
import math

from typer.testing import CliRunner

from speechbudget.axes import Config
from speechbudget.cli.app import app
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.sweep.store import ResultsStore


def _store(path):
    st = ResultsStore(path)
    run = st.start_run({"name": "half"}, {"hostname": "test"})
    for w in (10.0, 30.0):                                   # ASR: unreadable audio
        c = Config(task="asr", model="tiny.en", window=w)
        st.register_config(c, 10.0, {"dataset": "a"}, run)
        st.commit_shard(c.key, "s0", [ItemResult(f"b{i}", False, error="AudioError: bad")
                                      for i in range(3)], run)
        st.set_metrics(c.key, ConfigMetrics(c.key, "asr", "wer", math.nan, n_failed=3), run)
    labels = ("ang", "hap", "neu", "sad")
    for model, g, wrong in (("tiny", 4.0, 3), ("base", 10.0, 2)):  # SER: fine
        c = Config(task="ser", model=model, window=4.0)
        st.register_config(c, g, {"dataset": "s"}, run)
        rows = [ItemResult(f"c{i}", True, prediction=labels[(i + (i % wrong == 0)) % 4],
                           reference=labels[i % 4], n_ref=1) for i in range(16)]
        for r in rows:
            r.errors = int(r.prediction != r.reference)
        st.commit_shard(c.key, "s0", rows, run)
        ua = 1 - sum(r.errors for r in rows) / 16
        st.set_metrics(c.key, ConfigMetrics(c.key, "ser", "ua", ua, n_items=16, gflops=g), run)
    st.finish_run(run)
    st.close()
    return path


def test_the_task_with_results_is_reported_and_the_other_named(tmp_path):
    store = _store(tmp_path / "r.db")
    out = tmp_path / "rep"
    r = CliRunner().invoke(app, ["report", str(store), "-o", str(out), "--no-progress",
                                 "--static", "--bootstrap", "0"])
    assert r.exit_code == 0, r.output
    data = json.loads((out / "report.json").read_text())
    assert [t["task"] for t in data["tasks"]] == ["ser"]
    (note,) = data["left_out"]
    assert note.startswith("ASR left out: ") and "every item failed in 2 of 2" in note
    assert "ASR left out" in (out / "summary.md").read_text()
    assert "ASR left out" in (out / "index.html").read_text()


def test_asking_for_the_failed_task_still_says_why(tmp_path):
    store = _store(tmp_path / "r.db")
    r = CliRunner().invoke(app, ["report", str(store), "-o", str(tmp_path / "rep"),
                                 "--task", "asr", "--no-progress"])
    assert r.exit_code == 2 and "every item failed" in r.output, r.output
