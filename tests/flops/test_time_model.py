"""The calibrated run-time model (flops.estimate.TimeModel / predict_seconds): pure arithmetic."""
from __future__ import annotations

import pytest

from speechbudget.axes import Config, ConfigError
from speechbudget.flops.estimate import TimeModel, estimate, predict_seconds

TM = TimeModel(peak_gflops_per_s=200.0, features_s_per_audio_s=0.002,
               encoder_efficiency={"tiny.en": 0.5, "base": 0.6},
               decoder_s_per_token={"tiny.en": {1: 0.010, 8: 0.003, 16: 0.002}},
               calibration="test")


def test_s_per_token_interpolates_and_clamps():
    assert TM.s_per_token("tiny.en", 1) == 0.010
    assert TM.s_per_token("tiny.en", 12) == pytest.approx(0.0025)
    assert TM.s_per_token("tiny.en", 64) == 0.002
    with pytest.raises(ConfigError, match="model"):
        TM.s_per_token("base", 8)


def test_predict_is_encoder_flops_at_efficiency_plus_tokens_at_step_cost():
    cfg = Config(task="asr", model="tiny.en")
    rep = estimate(cfg, audio_s=8.0)
    enc = sum(v for k, v in rep.breakdown.items() if k.startswith("encoder."))
    p = predict_seconds(cfg, TM, 8.0, batch_size=8)
    assert p["encoder"] == pytest.approx(enc / 1e9 / (0.5 * 200.0))
    assert p["decoder"] == pytest.approx(rep.decoded_tokens * 0.003)
    assert p["features"] == pytest.approx(0.016)
    assert p["total"] == pytest.approx(p["features"] + p["encoder"] + p["decoder"])
    # a faster moment of the machine shortens only the encoder term
    q = predict_seconds(cfg, TM, 8.0, batch_size=8, peak_gflops_per_s=400.0)
    assert q["encoder"] == pytest.approx(p["encoder"] / 2) and q["decoder"] == p["decoder"]
    # known tokens are used as given; a 10 s window runs one encoder pass per chunk
    assert predict_seconds(cfg, TM, 8.0, 8, decoded_tokens=10)["decoder"] == pytest.approx(0.03)
    w10 = predict_seconds(Config(task="asr", model="tiny.en", window=10.0), TM, 25.0, 8)
    assert w10["encoder"] < predict_seconds(cfg, TM, 25.0, 8)["encoder"]


def test_round_trip_and_errors():
    assert TimeModel.from_dict(TM.to_dict()) == TM
    with pytest.raises(ConfigError, match="time_model"):
        TimeModel.from_dict({"peak_gflops_per_s": 1.0})
    with pytest.raises(ConfigError, match="model"):
        predict_seconds(Config(task="asr", model="small"), TM, 5.0)
    with pytest.raises(ConfigError, match="task"):
        predict_seconds(Config(task="ser", model="tiny.en", window=4.0), TM, 4.0)


def test_step_cost_is_linear_in_the_encoder_tokens_through_both_calibrations():
    import dataclasses
    tm = dataclasses.replace(TM, decoder_s_per_token_half={"tiny.en": {1: 0.006, 16: 0.0012}})
    assert tm.s_per_token("tiny.en", 1, 1500) == pytest.approx(0.010)
    assert tm.s_per_token("tiny.en", 1, 750) == pytest.approx(0.006)
    assert tm.s_per_token("tiny.en", 1, 375) == pytest.approx(0.004)     # extrapolated
    assert tm.s_per_token("tiny.en", 1, 0) == pytest.approx(0.002)
    steep = dataclasses.replace(tm, decoder_s_per_token_half={"tiny.en": {1: 0.002}})
    assert steep.s_per_token("tiny.en", 1, 0) == pytest.approx(0.0005)  # floor: half / 4
    assert tm.s_per_token("tiny.en", 1) == TM.s_per_token("tiny.en", 1)  # no length: 30 s
    # a window of 15 s decodes at the half-length cost; without the table, at the 30 s one
    cfg = Config(task="asr", model="tiny.en", window=15)
    rep = estimate(cfg, audio_s=8.0)
    assert predict_seconds(cfg, tm, 8.0, batch_size=1)["decoder"] == \
        pytest.approx(rep.decoded_tokens * 0.006)
    assert predict_seconds(cfg, TM, 8.0, batch_size=1)["decoder"] == \
        pytest.approx(rep.decoded_tokens * 0.010)
    back = TimeModel.from_dict(tm.to_dict())
    assert back == tm
    old = tm.to_dict()
    del old["decoder_s_per_token_half"]          # a calibration file from before the table
    assert TimeModel.from_dict(old).decoder_s_per_token_half == {}
