"""With max_rtf bounding a percentile (rtf_stat p50 / p90), the answer shows that percentile of
the recommended configuration beside its throughput RTF: the limit's own quantity, not only the
batched RTF it does not bound."""
from __future__ import annotations

from speechbudget.analysis import Limits, recommend
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics


def _pair(window, err, rtf, rtf_p90):
    c = Config(task="asr", model="tiny.en", window=window)
    return c, ConfigMetrics(c.key, "asr", "wer", err, gflops=10.0 + window, rtf=rtf,
                            rtf_p90=rtf_p90, rtf_p50=rtf_p90 / 2)


def test_the_bounded_percentile_is_shown():
    res = [_pair(30.0, 0.05, rtf=0.1, rtf_p90=0.9), _pair(10.0, 0.08, rtf=0.2, rtf_p90=0.3)]
    msg = recommend(res, Limits(max_rtf=0.5, rtf_stat="p90")).message
    assert "RTF 0.2, RTF p90 (batch 1) 0.3" in msg
    msg = recommend(res, Limits(max_rtf=0.5)).message        # the mean: shown once, as before
    assert "RTF 0.1." in msg and "p90" not in msg
