"""Adaptive plan (Optuna TPE + Pareto local search) on the test-double task.

The objective is cheap and deterministic: the test double's error formula (model size, window,
stride) with the real analytic FLOPs (speechbudget.flops.estimate) of each configuration.
Space: 3 models x 4 windows x 3 strides = 36 configurations; its (error, GFLOPs) frontier has 8.
With seed 0, 24 evaluations (of 36) find exactly the grid's frontier.
"""
from __future__ import annotations

import pytest

from speechbudget.sweep import ResultsStore, run_sweep
from speechbudget.sweep.adaptive import frontier_keys

SPACE = {"models": ["tiny.en", "base.en", "small.en"],
         "axes": {"window": [30, 20, 10, 5], "stride": [1, 2, 4]},
         "task_options": {"n_items": 6, "batch_size": 3}}


def frontier(metrics):
    return set(frontier_keys({c.key: (m.error, m.gflops) for c, m in metrics}))


def test_adaptive_finds_the_grid_frontier_with_fewer_evaluations(write_spec, tmp_path):
    grid = run_sweep(write_spec("g", plan="grid", **SPACE), tmp_path / "g.db", progress=False, allow_runner=True)
    assert len(grid.metrics) == 36
    truth = frontier(grid.metrics)
    assert len(truth) >= 5
    p = write_spec("a", plan={"type": "adaptive", "n_trials": 24, "seed": 0}, **SPACE)
    a = run_sweep(p, tmp_path / "a.db", progress=False, allow_runner=True)
    assert a.evaluations == 24 and len(a.metrics) == 24
    assert frontier(a.metrics) == truth


def test_adaptive_resumes_from_the_store(write_spec, tmp_path, monkeypatch):
    p = write_spec("a", plan={"type": "adaptive", "n_trials": 8, "seed": 1}, **SPACE)
    monkeypatch.setenv("FAKE_TASK_INTERRUPT_AFTER", "7")  # 2 shards per config: dies in the 4th
    with pytest.raises(KeyboardInterrupt):
        run_sweep(p, tmp_path / "a.db", progress=False, allow_runner=True)
    before = len(ResultsStore(tmp_path / "a.db").metrics())
    assert 1 <= before < 8
    monkeypatch.delenv("FAKE_TASK_INTERRUPT_AFTER")
    a = run_sweep(p, tmp_path / "a.db", progress=False, allow_runner=True)
    assert a.evaluations == 8
    st = ResultsStore(tmp_path / "a.db")
    assert len(st.metrics()) == 8 and st.n_items() == 8 * 6
    assert a.shards_run == 8 * 2 - before * 2 - 1  # the interrupted config's first shard kept
    again = run_sweep(p, tmp_path / "a.db", progress=False, allow_runner=True)  # complete: nothing more runs
    assert again.shards_run == 0 and len(ResultsStore(tmp_path / "a.db").metrics()) == 8
