"""Calibrated time prediction: the calibration file, per-configuration predictions, the plan and
`runs show` printing predicted beside measured."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from speechbudget.axes import Config, ConfigError
from speechbudget.cli import app
from speechbudget.flops.estimate import TimeModel, predict_seconds
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.sweep import ResultsStore
from speechbudget.sweep.timing import load_time_model, predict_config_seconds, save_time_model

runner = CliRunner()
TM = TimeModel(100.0, 0.002, {"tiny.en": 0.5}, {"tiny.en": {1: 0.02, 8: 0.005}},
               "test calibration")


def test_save_and_load_round_trip_and_bad_files(tmp_path, monkeypatch):
    p = save_time_model(TM, tmp_path / "tm.json")
    assert load_time_model(p) == TM
    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "empty-cache"))
    assert load_time_model() is None                  # no default calibration yet
    with pytest.raises(ConfigError, match="missing.json"):
        load_time_model(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json"):
        load_time_model(tmp_path / "bad.json")
    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "cache"))
    save_time_model(TM)
    assert load_time_model() == TM                   # the cache file `sweep calibrate` writes


def test_prediction_sums_items_and_knows_what_it_does_not_cover():
    c = Config(task="asr", model="tiny.en", window=10.0)
    one = predict_seconds(c, TM, 8.0, 8)["total"]
    assert predict_config_seconds(c, TM, [8.0, 8.0, 8.0], 8) == pytest.approx(3 * one)
    # the encoder term follows the peak measured now; the decoder term does not
    slow = predict_config_seconds(c, TM, [8.0], 8, peak_gflops_per_s=50.0)
    parts = predict_seconds(c, TM, 8.0, 8)
    assert slow == pytest.approx(parts["total"] + parts["encoder"])
    assert predict_config_seconds(Config(task="asr", model="base"), TM, [8.0]) is None
    assert predict_config_seconds(Config(task="ser", model="tiny.en", window=2.0), TM,
                                  [2.0]) is None


def test_plan_predicts_from_the_calibration_and_says_how(tmp_path):
    tm = tmp_path / "tm.json"
    save_time_model(TM, tm)
    spec = tmp_path / "s.yaml"
    from speechbudget.demo import default_asr_data
    spec.write_text(f"name: t\ntask: asr\ndata: {default_asr_data()}\n"
                    "task_options: {batch_size: 8, max_items: 3}\nmodels: [tiny.en, base]\n"
                    "axes: {window: [30, 10]}\nplan: {type: grid}\n")
    r = runner.invoke(app, ["sweep", "plan", str(spec), "--time-model", str(tm), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    src = {row["label"]: row["estimate_source"] for row in d["configs"]}
    assert src == {"tiny.en 30s": "calibrated", "tiny.en 10s": "calibrated",
                   "base 30s": "FLOPs", "base 10s": "FLOPs"}
    assert d["time_model"]["calibration"] == "test calibration"
    r = runner.invoke(app, ["sweep", "plan", str(spec), "--time-model", str(tm)])
    assert r.exit_code == 0 and "test calibration" in r.output
    assert "not covered by the calibration" in r.output
    r = runner.invoke(app, ["sweep", "plan", str(spec), "--time-model", str(tmp_path / "x.json")])
    assert r.exit_code == 2 and "x.json" in r.output


def test_runs_show_puts_predicted_beside_measured(tmp_path):
    tm = tmp_path / "tm.json"
    save_time_model(TM, tm)
    c = Config(task="asr", model="tiny.en", window=10.0)
    st = ResultsStore(tmp_path / "runs.db")
    run = st.start_run({"name": "t", "task_options": {"batch_size": 8}}, {"device": "cpu"})
    st.register_config(c, 1.0, {"task": "asr", "dataset": "d", "task_options": {}}, run)
    st.commit_shard(c.key, "s0", [ItemResult(f"u{i}", ok=True, errors=0, n_ref=3, audio_s=8.0)
                                  for i in range(2)], run)
    pred = predict_config_seconds(c, TM, [8.0, 8.0], 8)
    m = ConfigMetrics(c.key, "asr", "wer", 0.0, n_items=2,
                      timings={"features": 0.0, "encoder": pred / 2, "decoder": pred / 2})
    st.set_metrics(c.key, m, run)
    st.finish_run(run)
    st.close()
    r = runner.invoke(app, ["runs", "show", str(tmp_path / "runs.db"), "--time-model", str(tm)])
    assert r.exit_code == 0, r.output
    assert "predicted vs measured" in r.output and "+0%" in r.output
    assert "median absolute error 0%" in r.output
