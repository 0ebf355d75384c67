"""Probe of the calibrated time model: a configuration at another precision than the one
calibrated is not predicted from it."""
from __future__ import annotations

import pytest

from speechbudget.axes import Config, ConfigError
from speechbudget.flops.estimate import TimeModel, predict_seconds
from speechbudget.sweep.timing import predict_config_seconds

TM = TimeModel(200.0, 0.002, {"tiny.en": 0.5}, {"tiny.en": {1: 0.010, 8: 0.003}}, "test")


@pytest.mark.parametrize("precision", ["bf16", "int8-dynamic"])
def test_other_precisions_are_not_predicted_from_an_fp32_calibration(precision):
    """The calibration runs fp32; bf16 ran 2.4x faster and int8-dynamic's decoder 2.3x faster
    on 4 LibriSpeech utterances here (tiny.en, batch 4), yet `sweep plan` showed the fp32
    prediction for them, labelled 'calibrated'."""
    c = Config(task="asr", model="tiny.en", precision=precision)
    assert TM.precision == "fp32"
    with pytest.raises(ConfigError, match="precision"):
        predict_seconds(c, TM, 8.0, 8)
    assert predict_config_seconds(c, TM, [8.0, 5.0], 8) is None
    assert predict_config_seconds(c.with_(precision="fp32"), TM, [8.0, 5.0], 8) > 0


def test_precision_round_trips_and_old_files_read_as_fp32():
    d = TM.to_dict()
    assert d["precision"] == "fp32" and TimeModel.from_dict(d) == TM
    d.pop("precision")                                  # a calibration written before the field
    assert TimeModel.from_dict(d).precision == "fp32"
    bf = TimeModel.from_dict({**TM.to_dict(), "precision": "bf16"})
    assert predict_config_seconds(Config(task="asr", model="tiny.en", precision="bf16"), bf,
                                  [8.0], 8) > 0
