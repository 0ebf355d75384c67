"""Latency as a distribution: per-utterance seconds at batch size 1 beside batched throughput."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from speechbudget.analysis.recommend import Limits, recommend
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.tasks.asr.runner import AsrTask, evaluate, set_latency

from .conftest import tiny_bundle

SR = 16000


def _dataset(tmp_path, n=5):
    rows = []
    for i in range(n):
        t = np.arange(int((1.0 + 0.5 * i) * SR)) / SR
        sf.write(tmp_path / f"u{i}.wav", (0.2 * np.sin(2 * np.pi * (200 + 40 * i) * t))
                 .astype(np.float32), SR, subtype="FLOAT")
        rows.append({"id": f"u{i}", "audio": f"u{i}.wav", "text": "hello there"})
    p = tmp_path / "manifest.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return p


def _task(**kw):
    task = AsrTask(**kw)
    task._bundles[("tiny.en", "cpu")] = tiny_bundle()
    return task


def test_latency_is_timed_on_the_first_items_only(tmp_path):
    p = _dataset(tmp_path)
    task = _task(batch_size=4, latency_items=2)
    cfg = Config(task="asr", model="tiny.en", window=4)
    m, items = evaluate(cfg, p, device="cpu", task=task)
    timed = sorted(r.item_id for r in items if "latency_s" in r.extra)
    assert timed == ["u0", "u1"]          # dataset order, whatever the shard order
    assert all(r.extra["latency_s"] > 0 for r in items if "latency_s" in r.extra)
    assert m.latency_n == 2 and 0 < m.latency_p50_s <= m.latency_p90_s
    assert m.rtf_p50 <= m.rtf_p90 and m.rtf is not None


def test_off_by_default_and_free_at_batch_size_one(tmp_path):
    p = _dataset(tmp_path, n=3)
    cfg = Config(task="asr", model="tiny.en", window=4)
    m, items = evaluate(cfg, p, device="cpu", task=_task(batch_size=4))
    assert m.latency_n == 0 and m.rtf_p90 is None
    m1, items1 = evaluate(cfg, p, device="cpu", task=_task(batch_size=1))
    assert m1.latency_n == 3 and all("latency_s" in r.extra for r in items1)


def test_latency_items_is_validated():
    with pytest.raises(ValueError, match="latency_items"):
        AsrTask(latency_items=-1)


def test_percentiles_from_item_latencies():
    items = [ItemResult(f"u{i}", ok=True, audio_s=2.0, extra={"latency_s": float(s)})
             for i, s in enumerate([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])]
    items.append(ItemResult("x", ok=True, audio_s=2.0))            # not timed: left out
    m = ConfigMetrics("k", "asr", "wer", 0.1)
    set_latency(m, items)
    assert m.latency_n == 10
    assert m.latency_p50_s == pytest.approx(5.5) and m.latency_p90_s == pytest.approx(9.1)
    assert m.rtf_p50 == pytest.approx(2.75) and m.rtf_p90 == pytest.approx(4.55)


def _pair(window, err, rtf, rtf_p90, gflops):
    c = Config(task="asr", model="tiny.en", window=window)
    return c, ConfigMetrics(c.key, "asr", "wer", err, gflops=gflops, rtf=rtf, rtf_p90=rtf_p90,
                            rtf_p50=None if rtf_p90 is None else rtf_p90 / 2)


def test_max_rtf_bounds_the_chosen_statistic():
    fast_mean_slow_tail = _pair(30.0, 0.05, rtf=0.1, rtf_p90=0.9, gflops=20)
    steady = _pair(10.0, 0.08, rtf=0.2, rtf_p90=0.3, gflops=10)
    untimed = _pair(20.0, 0.04, rtf=0.1, rtf_p90=None, gflops=15)
    res = [fast_mean_slow_tail, steady, untimed]
    by_mean = recommend(res, Limits(max_rtf=0.5))
    assert by_mean.best[0].label == "tiny.en 20s" and by_mean.n_feasible == 3
    by_p90 = recommend(res, Limits(max_rtf=0.5, rtf_stat="p90"))
    assert by_p90.best[0].label == "tiny.en 10s" and by_p90.n_feasible == 1
    assert "RTF p90" in by_p90.message
    assert any("no RTF p90" in n for n in by_p90.notes)
    with pytest.raises(ValueError, match="rtf_stat"):
        Limits(max_rtf=0.5, rtf_stat="p99")
