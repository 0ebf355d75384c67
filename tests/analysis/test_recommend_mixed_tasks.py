"""A store with results of two tasks: `recommend` asks for --task. Its line said "mixed.db hold
results for tasks asr, ser" (the verb did not agree with the store's path); it now reads
"results for tasks asr, ser in mixed.db: choose one (--task)" ("results for tasks asr, ser:
..." for a list in memory)."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.analysis.recommend import NoResultsError, recommend
from speechbudget.axes import Config
from speechbudget.cli.app import app
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.sweep.store import ResultsStore


def _pairs():
    a = Config(task="asr", model="tiny.en", window=30.0)
    s = Config(task="ser", model="tiny.en", window=2.0)
    return [(a, ConfigMetrics(a.key, "asr", "wer", 0.1, n_items=1, gflops=3.0)),
            (s, ConfigMetrics(s.key, "ser", "ua", 0.5, n_items=1, gflops=1.0))]


def test_recommend_on_a_mixed_store_says_which_tasks(tmp_path):
    path = tmp_path / "mixed.db"
    st = ResultsStore(path)
    run = st.start_run({"name": "mixed"}, {"hostname": "test"})
    for c, m in _pairs():
        st.register_config(c, m.gflops, {"dataset": "x"}, run)
        item = (ItemResult("u0", True, errors=1, n_ref=10) if c.task == "asr" else
                ItemResult("c0", True, prediction="ANG", reference="ANG", errors=0, n_ref=1))
        st.commit_shard(c.key, "s0", [item], run)
        st.set_metrics(c.key, m, run)
        st.set_config_status(c.key, "done")
    st.finish_run(run)
    st.close()
    r = CliRunner().invoke(app, ["recommend", str(path)])
    assert r.exit_code != 0, r.output
    assert f"results for tasks asr, ser in {path}: choose one (--task)" in r.output, r.output
    assert " hold results" not in r.output


def test_a_list_in_memory_reads_the_same():
    with pytest.raises(NoResultsError, match=r"^results for tasks asr, ser: choose one "):
        recommend(_pairs())
