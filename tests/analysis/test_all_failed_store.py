"""A store in which every item of every configuration failed (unreadable audio, say): the
commands say so, instead of 'nan %' and 'no configuration has a finite error'."""
from __future__ import annotations

from typer.testing import CliRunner

from speechbudget.axes import Config
from speechbudget.cli.app import app
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.sweep.store import ResultsStore


def _all_failed(path):
    st = ResultsStore(path)
    run = st.start_run({"name": "broken"}, {"hostname": "test"})
    for w in (10.0, 30.0):
        c = Config(task="asr", model="tiny.en", window=w)
        st.register_config(c, None, {"dataset": "broken"}, run)
        st.commit_shard(c.key, "s0", [ItemResult(f"b{i}", False, error="AudioError: x.flac: "
                                                 "not a readable audio file")
                                      for i in range(3)], run)
        st.set_metrics(c.key, ConfigMetrics(c.key, "asr", "wer", float("nan"), n_items=0,
                                            n_failed=3), run)
        st.set_config_status(c.key, "done")
    st.finish_run(run)
    st.close()
    return path


def test_recommend_says_every_item_failed(tmp_path):
    store = _all_failed(tmp_path / "r.db")
    r = CliRunner().invoke(app, ["recommend", str(store)])
    assert r.exit_code == 2
    assert "every item failed in 2 of 2 configurations (6 items" in r.output, r.output
    assert "runs show" in r.output


def test_runs_list_shows_no_value_as_runs_show_does(tmp_path):
    store = _all_failed(tmp_path / "r.db")
    r = CliRunner().invoke(app, ["runs", "list", str(store)])
    assert r.exit_code == 0, r.output
    assert "nan" not in r.output
    assert r.output.count("n/a") == 2
