"""Factories for (Config, ConfigMetrics) pairs with hand-chosen numbers."""
from __future__ import annotations

import pytest

from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics


def _pair(model="tiny.en", window=30.0, stride=1, err=0.1, gflops=None, rtf=None, mem=None,
          task="asr", stride_at="output", pool="mean"):
    c = Config(task=task, model=model, window=window, stride=stride, stride_at=stride_at, pool=pool)
    metric, value = ("wer", err) if task == "asr" else ("ua", 1 - err)
    m = ConfigMetrics(c.key, task, metric, value, n_items=10, gflops=gflops, rtf=rtf,
                      peak_mem_mb=mem)
    return c, m


@pytest.fixture
def pair():
    return _pair
