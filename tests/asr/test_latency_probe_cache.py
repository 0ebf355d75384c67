"""Probe: per-utterance latency at batch size 1 is documented as 'no reuse cache'
(tasks/asr/runner.py module docstring), but at batch_size=1 the run itself - with the sweep's
reuse cache - is taken as the latency. On real tiny.en (30 s window, 3 LibriSpeech utterances,
a ReuseCache shared as in a sweep) the same configuration run a second time reported latency
p50 0.50 s against 0.97 s the first time, while its stage timings stayed 0.90-0.96 s per item.

The fix belongs to speechbudget/tasks/asr/runner.py (AsrTask._latencies), outside this
helper's files: strict xfail until then."""
from __future__ import annotations

import time

import pytest

from speechbudget.axes import Config
from speechbudget.sweep.cache import ReuseCache
from speechbudget.tasks.asr.pipeline import AsrPipeline
from speechbudget.tasks.asr.runner import AsrTask, evaluate

from .conftest import tiny_bundle
from .test_latency import _dataset

ALONE_S = 0.3   # what a run without the reuse cache costs in this test (a stand-in)


@pytest.mark.xfail(strict=True, reason="runner.py takes the batch-1 run with the reuse cache "
                                       "as the latency (see the module docstring)")
def test_batch_one_latency_is_measured_without_the_reuse_cache(tmp_path, monkeypatch):
    real = AsrPipeline.transcribe_items

    def spy(self, items, batch_size, cache=None):
        if cache is None:           # alone: what the latency is documented to measure
            time.sleep(ALONE_S)
        return real(self, items, batch_size, cache)

    monkeypatch.setattr(AsrPipeline, "transcribe_items", spy)
    task = AsrTask(batch_size=1)
    task._bundles[("tiny.en", "cpu")] = tiny_bundle()
    _, items = evaluate(Config(task="asr", model="tiny.en", window=4), _dataset(tmp_path, n=2),
                        device="cpu", task=task, cache=ReuseCache())
    lat = [r.extra["latency_s"] for r in items]
    assert len(lat) == 2 and min(lat) >= ALONE_S, lat
