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


def test_race_bounds_from_the_first_round_and_the_survivors():
    from speechbudget.sweep.timing import predict_race_seconds, race_shard_durations

    durations = [float(d) for d in range(1, 13)]          # 12 items, 1..12 s
    shards = race_shard_durations(durations, 4)
    assert shards == [[12.0, 11.0, 10.0, 9.0], [8.0, 7.0, 6.0, 5.0], [4.0, 3.0, 2.0, 1.0]]
    configs = [Config(task="asr", model="tiny.en", window=w) for w in (30.0, 10.0)]
    cost = {configs[0].key: 2.0, configs[1].key: 1.0}     # seconds per audio second

    def seconds_of(c, ds):
        return cost[c.key] * sum(ds)
    r = predict_race_seconds(configs, durations, seconds_of, batch_size=4, first_items=4,
                             growth=2)
    assert r.rounds_items == [4, 8, 12]
    first = sum(durations[8:])                            # the 4 longest: 42 s of audio
    assert r.first_round_s == pytest.approx(3 * first)
    assert r.full_s == r.upper_s == pytest.approx(3 * sum(durations))
    # one survivor after round 1, the cheaper one to finish: the 10 s window
    assert r.lower_s == pytest.approx(3 * first + 1.0 * (sum(durations) - first))
    assert r.first_round_s < r.lower_s < r.upper_s
    # a configuration without a prediction: no bound is made up
    r = predict_race_seconds(configs, durations, lambda c, ds: None if c is configs[1]
                             else seconds_of(c, ds), 4, 4, 2)
    assert r.n_unknown == 1 and r.lower_s is None and r.upper_s is None


def test_adaptive_expected_and_bounds():
    from speechbudget.sweep.timing import predict_adaptive_seconds

    a = predict_adaptive_seconds([4.0, 1.0, 3.0, 2.0], n_trials=2)
    assert (a.low_s, a.high_s, a.full_s) == (3.0, 7.0, 10.0)
    assert a.expected_s == pytest.approx(5.0) and a.n_trials == 2 and a.n_space == 4
    assert predict_adaptive_seconds([1.0, None], 1).expected_s is None
    assert predict_adaptive_seconds([1.0, 2.0], 5).n_trials == 2


def _spec(tmp_path, plan: str) -> str:
    from speechbudget.demo import default_asr_data
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: t\ntask: asr\ndata: {default_asr_data()}\n"
                    "task_options: {batch_size: 2, max_items: 8}\nmodels: [tiny.en]\n"
                    f"axes: {{window: [30, 20, 10]}}\nplan: {plan}\n")
    return str(spec)


def test_plan_of_a_race_prints_the_full_grid_the_first_round_and_the_bounds(tmp_path):
    tm = tmp_path / "tm.json"
    save_time_model(TM, tm)
    spec = _spec(tmp_path, "{type: grid, race: {first_items: 2, growth: 2}}")
    r = runner.invoke(app, ["sweep", "plan", spec, "--time-model", str(tm), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    race = d["race"]
    assert race["rounds_items"] == [2, 4, 8]
    full = sum(row["estimated_s"] for row in d["configs"])   # every config on every item
    assert race["full_s"] == pytest.approx(full) and race["upper_s"] == pytest.approx(full)
    assert race["first_round_s"] < race["lower_s"] < race["upper_s"]
    r = runner.invoke(app, ["sweep", "plan", spec, "--time-model", str(tm)])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "racing: rounds of 2 -> 4 -> 8 items" in text
    assert "Full grid without racing" in text and "no configuration eliminated" in text
    assert "known only as it runs" in text


def test_plan_of_an_adaptive_search_prints_expected_and_bounds(tmp_path):
    tm = tmp_path / "tm.json"
    save_time_model(TM, tm)
    spec = _spec(tmp_path, "{type: adaptive, n_trials: 2}")
    r = runner.invoke(app, ["sweep", "plan", spec, "--time-model", str(tm), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    secs = sorted(row["estimated_s"] for row in d["configs"])
    a = d["adaptive"]
    assert a["low_s"] == pytest.approx(sum(secs[:2])) and a["high_s"] == pytest.approx(
        sum(secs[-2:]))
    assert a["expected_s"] == pytest.approx(sum(secs) * 2 / 3)
    r = runner.invoke(app, ["sweep", "plan", spec, "--time-model", str(tm)])
    text = " ".join(r.output.split())
    assert "2 trials expected" in text and "the 2 cheapest" in text
