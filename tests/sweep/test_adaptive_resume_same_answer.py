"""An adaptive search killed and resumed chose other configurations than an uninterrupted one
with the same seed (the resumed study replayed the store's evaluations into a sampler whose
random state started afresh, in another order). Each round now samples from a fresh study of
the store's evaluations, seeded from the seed and what is evaluated: the same store contents and
seed give the same picks, so the resumed search ends with the same configurations."""
from __future__ import annotations

import pytest

from speechbudget.sweep import run_sweep

SPACE = {"models": ["tiny.en", "base.en", "small.en"],
         "axes": {"window": [30, 20, 10, 5], "stride": [1, 2, 4]},
         "task_options": {"n_items": 6, "batch_size": 3}}


@pytest.mark.parametrize("kill_after", [5, 13])  # 2 shards per configuration
def test_killed_and_resumed_search_ends_with_the_same_configurations(write_spec, tmp_path,
                                                                     monkeypatch, kill_after):
    p = write_spec("a", plan={"type": "adaptive", "n_trials": 14, "seed": 3}, **SPACE)
    whole = run_sweep(p, tmp_path / "whole.db", allow_runner=True)
    monkeypatch.setenv("FAKE_TASK_INTERRUPT_AFTER", str(kill_after))
    with pytest.raises(KeyboardInterrupt):
        run_sweep(p, tmp_path / "r.db", allow_runner=True)
    monkeypatch.delenv("FAKE_TASK_INTERRUPT_AFTER")
    resumed = run_sweep(p, tmp_path / "r.db", allow_runner=True)
    assert resumed.evaluations == whole.evaluations == 14
    assert sorted(c.key for c, _ in resumed.metrics) == sorted(c.key for c, _ in whole.metrics)
