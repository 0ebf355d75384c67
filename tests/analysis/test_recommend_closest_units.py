"""When nothing meets the limits, the message names the closest configuration's metric in the
unit every table uses (WER in percent, labelled so; UA as a fraction), not the raw error
fraction: `recommend runs.db --max-gflops 5` said "Closest: tiny.en dyn (error 0.01852)"."""
from speechbudget.analysis import Limits, recommend
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics


def _one(task: str, model: str, metric: str, value: float, window: float):
    cfg = Config(task=task, model=model, window=window)
    m = ConfigMetrics(config_key=cfg.key, task=task, metric=metric, value=value,
                      ci_low=None, ci_high=None, n_items=10, n_failed=0, gflops=100.0)
    return cfg, m


def test_closest_wer_in_percent():
    rec = recommend([_one("asr", "tiny.en", "wer", 0.0185, 30)], Limits(max_gflops=5))
    assert rec.best is None
    assert "Closest: tiny.en 30s (WER 1.85%)" in rec.message
    assert "0.0185" not in rec.message


def test_closest_ua_as_a_fraction():
    rec = recommend([_one("ser", "tiny.en", "ua", 0.723, 4)], Limits(max_gflops=5))
    assert "(UA 0.723)" in rec.message
