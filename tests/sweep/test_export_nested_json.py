"""`runs export`: a nested value of the environment (env_versions, a GPU description, a list of
devices) went into the CSV (and the frame's string column) as a Python repr, "{'torch': '2'}",
which no JSON or CSV reader can parse back. Nested values are now JSON; Parquet keeps its types."""
from __future__ import annotations

import json

import pandas as pd

from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics
from speechbudget.sweep.export import export, to_pandas
from speechbudget.sweep.store import ResultsStore

ENV = {"hostname": "test", "cores": 2, "versions": {"torch": "2.1", "numpy": "2.0"},
       "gpu": {"name": "H100", "memory_gb": 80}, "devices": ["cuda:0", "cuda:1"]}


def _store(path):
    st = ResultsStore(path)
    run = st.start_run({"name": "nested"}, ENV)
    c = Config(task="asr", model="tiny.en", window=10.0)
    st.register_config(c, None, {"dataset": "d"}, run)
    st.set_metrics(c.key, ConfigMetrics(c.key, "asr", "wer", 0.1, n_items=3), run)
    st.set_config_status(c.key, "done")
    st.finish_run(run)
    return st


def test_nested_environment_values_are_json_in_csv(tmp_path):
    st = _store(tmp_path / "r.db")
    export(st, tmp_path / "out", "both")
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert json.loads(runs.loc[0, "env_versions"]) == ENV["versions"]
    assert json.loads(runs.loc[0, "env_gpu"]) == ENV["gpu"]
    assert json.loads(runs.loc[0, "env_devices"]) == ENV["devices"]
    assert runs.loc[0, "env_hostname"] == "test" and runs.loc[0, "env_cores"] == 2
    back = pd.read_parquet(tmp_path / "out" / "runs.parquet")
    assert json.loads(back.loc[0, "env_versions"]) == ENV["versions"]
    assert str(back["env_cores"].dtype) == "Int64"
    pd.testing.assert_frame_equal(back, to_pandas(st, "runs"), check_exact=True)
    st.close()
