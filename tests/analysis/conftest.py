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


def write_item_store(path, configs, task="asr", model="tiny.en"):
    """A results store written the way a sweep writes one, with per-item results.
    configs: (window, gflops, [(item_id, errors, n_ref), ...]) per configuration; the metric is
    the corpus WER of the items (NaN-free: None when they hold no reference word)."""
    from speechbudget.records import ItemResult
    from speechbudget.sweep.store import ResultsStore

    st = ResultsStore(path)
    run = st.start_run({"name": "constructed"}, {"hostname": "test"})
    for window, gflops, rows in configs:
        c = Config(task=task, model=model, window=float(window))
        st.register_config(c, gflops, {"dataset": "constructed"}, run)
        st.commit_shard(c.key, "s0", [ItemResult(i, True, errors=e, n_ref=n) for i, e, n in rows],
                        run)
        words = sum(n for _, _, n in rows)
        wer = sum(e for _, e, _ in rows) / words if words else None
        st.set_metrics(c.key, ConfigMetrics(c.key, task, "wer", wer, n_items=len(rows),
                                            gflops=gflops), run)
    st.finish_run(run)
    st.close()
    return path


@pytest.fixture
def item_store():
    """`item_store(path, configs)`: write_item_store."""
    return write_item_store


def write_metrics_store(path, results):
    """A results store of (Config, ConfigMetrics) pairs, without per-item results."""
    from speechbudget.sweep.store import ResultsStore

    st = ResultsStore(path)
    run = st.start_run({"name": "constructed"}, {"hostname": "test"})
    for c, m in results:
        st.register_config(c, m.gflops, {"dataset": "constructed"}, run)
        st.set_metrics(c.key, m, run)
    st.finish_run(run)
    st.close()
    return path


@pytest.fixture
def metrics_store():
    """`metrics_store(path, results)`: write_metrics_store."""
    return write_metrics_store
