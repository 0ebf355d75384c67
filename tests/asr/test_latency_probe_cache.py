"""Probe: per-utterance latency at batch size 1 is documented as 'no reuse cache'
(tasks/asr/runner.py module docstring), but at batch_size=1 the run itself - with the sweep's
reuse cache - is taken as the latency. On real tiny.en (30 s window, 3 LibriSpeech utterances,
a ReuseCache shared as in a sweep) the same configuration run a second time reported latency
p50 0.50 s against 0.97 s the first time, while its stage timings stayed 0.90-0.96 s per item.

Fixed in AsrTask._latencies: with a reuse cache the batch-1 run is not taken as the latency;
each utterance is timed alone (without the cache), as at larger batch sizes."""
from __future__ import annotations

import time

from speechbudget.axes import Config
from speechbudget.sweep.cache import ReuseCache
from speechbudget.tasks.asr.pipeline import AsrPipeline
from speechbudget.tasks.asr.runner import AsrTask, evaluate

from .conftest import tiny_bundle
from .test_latency import _dataset

ALONE_S = 0.3   # what a run without the reuse cache costs in this test (a stand-in)


def test_batch_one_latency_is_measured_without_the_reuse_cache(tmp_path, monkeypatch):
    real = AsrPipeline.transcribe_items

    def spy(self, items, batch_size, cache=None):
        if cache is None:           # alone: what the latency is documented to measure
            time.sleep(ALONE_S)
        return real(self, items, batch_size, cache)

    monkeypatch.setattr(AsrPipeline, "transcribe_items", spy)
    config, data = Config(task="asr", model="tiny.en", window=4), _dataset(tmp_path, n=2)
    task = AsrTask(batch_size=1)
    task._bundles[("tiny.en", "cpu")] = tiny_bundle()
    _, items = evaluate(config, data, device="cpu", task=task, cache=ReuseCache())
    assert not any("latency_s" in r.extra for r in items)   # no latency rather than a wrong one
    timed = AsrTask(batch_size=1, latency_items=2)
    timed._bundles[("tiny.en", "cpu")] = tiny_bundle()
    _, items = evaluate(config, data, device="cpu", task=timed, cache=ReuseCache())
    lat = [r.extra["latency_s"] for r in items]
    assert len(lat) == 2 and min(lat) >= ALONE_S, lat     # each timed alone, without the cache
    alone = AsrTask(batch_size=1)                        # no cache: the run itself, as before
    alone._bundles[("tiny.en", "cpu")] = tiny_bundle()
    _, items = evaluate(config, data, device="cpu", task=alone)
    assert all(r.extra["latency_s"] >= ALONE_S for r in items)
