"""The memory sampler: a peak increase relative to the start, which earlier work cannot change."""
from __future__ import annotations

import time

import pytest
import torch

import speechbudget.memory as memory
from speechbudget.memory import MemoryPeak, allocated_bytes, module_mb, rss_bytes, timed_sleep_alloc

pytestmark = pytest.mark.skipif(rss_bytes() is None, reason="no /proc/self/statm here")


def test_peak_increase_of_a_known_allocation():
    with MemoryPeak() as p:
        timed_sleep_alloc(64)
    assert 60 <= p.increase_mb <= 80


def test_order_does_not_change_the_measurement():
    big_first = []
    for mb in (200, 40):
        with MemoryPeak() as p:
            timed_sleep_alloc(mb)
        big_first.append(p.increase_mb)
    # after the 200 MB piece, the process high-water mark is >= 200 MB; the 40 MB piece still
    # measures about 40
    assert 190 <= big_first[0] <= 230 and 36 <= big_first[1] <= 60


def test_module_mb_counts_weights_at_their_precision_once():
    lin = torch.nn.Linear(256, 1024)
    assert module_mb(lin) == pytest.approx((256 * 1024 + 1024) * 4 / 2**20)
    assert module_mb(lin.half()) == pytest.approx((256 * 1024 + 1024) * 2 / 2**20)
    tied = torch.nn.Sequential(lin, torch.nn.Linear(1024, 256))
    tied[1].weight = torch.nn.Parameter(lin.weight.detach().t())  # not tied: a new tensor
    assert module_mb(tied) > module_mb(lin)


@pytest.mark.skipif(allocated_bytes() is None, reason="no glibc mallinfo2 here")
def test_allocations_are_counted_and_the_allocator_is_left_alone(monkeypatch):
    """With mallinfo2 the increase counts allocated bytes, and glibc's thresholds stay dynamic
    (fixing them made every run slower): pin_malloc_thresholds is never called."""
    calls = []
    monkeypatch.setattr(memory, "pin_malloc_thresholds", lambda: calls.append(1) or True)
    with MemoryPeak() as p:
        x = torch.ones(16 * 2**20 // 4)   # 16 MiB, held for a few sampling intervals
        time.sleep(5 * p.interval_s)
        del x
    assert p.source == "malloc" and calls == []
    assert 15 <= p.increase_mb <= 20 and p.peak_mb is not None


def test_without_mallinfo2_the_rss_is_used_with_fixed_thresholds(monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "allocated_bytes", lambda: None)
    monkeypatch.setattr(memory, "pin_malloc_thresholds", lambda: calls.append(1) or True)
    with MemoryPeak() as p:
        timed_sleep_alloc(48)
    assert p.source == "rss" and calls == [1]
    assert 44 <= p.increase_mb <= 64


def test_module_mb_counts_dynamically_quantised_weights():
    """int8-dynamic keeps its int8 Linear weights packed, neither parameter nor buffer:
    module_mb gave 108 MB for tiny.en int8-dynamic (the 28 MB of int8 decoder weights and
    biases left out; the analytic weight_bytes says 136), so every int8-dynamic configuration's
    peak_mem_mb was low by that much."""
    import warnings
    m = torch.nn.Sequential(torch.nn.Linear(512, 256), torch.nn.LayerNorm(256),
                            torch.nn.Linear(256, 128, bias=False))
    with warnings.catch_warnings():   # torch.ao.quantization is deprecated (as in the pipeline)
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic
        q = quantize_dynamic(m, {torch.nn.Linear}, dtype=torch.qint8)
    int8 = 512 * 256 + 256 * 4 + 256 * 128          # int8 weights + the fp32 bias
    assert module_mb(q) * 2**20 == 2 * 256 * 4 + int8  # + the LayerNorm, a plain parameter
    assert module_mb(m) * 2**20 == 4 * (512 * 256 + 256 + 2 * 256 + 256 * 128)
