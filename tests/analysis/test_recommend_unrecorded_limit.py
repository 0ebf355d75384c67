"""`--rtf-stat p50/p90` with `--max-rtf`, or `--max-mem-mb`, on SER results: SER sweeps never time
clips one at a time nor measure memory, so every configuration missed with "RTF p90 (batch 1) not
measured (limit 1)" and a note that N configurations "have no ... measured", as if a rerun could
measure it. The answer now says the limit cannot be applied to this task's results, and why (what
SER records instead: the whole run's inference RTF, which --rtf-stat mean bounds)."""
from __future__ import annotations

import pytest

from speechbudget.analysis import Limits, recommend
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics


def _ser(window):
    c = Config(task="ser", model="tiny.en", window=window)
    return c, ConfigMetrics(c.key, "ser", "ua", 0.5 + window / 10, gflops=window, rtf=0.01)


def _asr(window):
    c = Config(task="asr", model="tiny.en", window=window)
    return c, ConfigMetrics(c.key, "asr", "wer", 0.1, gflops=window, rtf=0.01)


@pytest.mark.parametrize("limits, says", [
    (Limits(max_rtf=1.0, rtf_stat="p90"),
     "a limit on RTF p90 (batch 1) cannot be applied: SER sweeps do not time clips one at a "
     "time (batch 1), so they record no RTF p50/p90; they record the whole run's inference RTF, "
     "which --rtf-stat mean bounds"),
    (Limits(max_rtf=1.0, rtf_stat="p50"), "a limit on RTF p50 (batch 1) cannot be applied"),
    (Limits(max_mem_mb=500.0, max_gflops=10.0),
     "a limit on peak memory MB cannot be applied: SER sweeps do not measure peak memory"),
])
def test_a_limit_ser_never_records_says_so(limits, says):
    rec = recommend([_ser(1.0), _ser(2.0)], limits)
    assert rec.best is None
    assert says in rec.message, rec.message
    assert "not measured" not in rec.message, rec.message
    assert not any("have no" in n for n in rec.notes), rec.notes


def test_the_mean_rtf_ser_records_still_bounds():
    rec = recommend([_ser(1.0), _ser(2.0)], Limits(max_rtf=1.0))
    assert rec.best is not None and rec.best[0].window == 2.0


def test_asr_without_memory_keeps_the_per_configuration_words():
    """ASR measures memory where the sweep does: unmeasured there is a per-configuration gap."""
    rec = recommend([_asr(10.0), _asr(30.0)], Limits(max_mem_mb=500.0))
    assert "peak memory MB not measured (limit 500)" in rec.message, rec.message
    assert "cannot be applied" not in rec.message
