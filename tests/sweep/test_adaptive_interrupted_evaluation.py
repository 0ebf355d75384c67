"""An adaptive search interrupted in the middle of an evaluation finishes that evaluation when
it resumes. It did not always: the resumed study asked its sampler afresh, which could choose
other configurations, and the interrupted one stayed in the store, unfinished, its items never
used (shown by: TPE seed 0, 8 trials, interrupted after 16 shards - 5 configurations and one
shard of the 6th, tiny.en 20s; resumed: 8 others evaluated, tiny.en 20s left 'pending' with 2
items, 9 configurations in the store)."""
from __future__ import annotations

import pytest

from speechbudget.sweep import ResultsStore, run_sweep

SPACE = {"models": ["tiny.en", "base.en"],
         "axes": {"window": [30, 20, 15, 10], "stride": [1, 2, 4]},
         "task_options": {"n_items": 6, "batch_size": 2}}      # 3 shards per configuration
PLAN = {"type": "adaptive", "n_trials": 8, "sampler": "tpe", "seed": 0}


def test_a_started_evaluation_is_finished_on_resume(write_spec, tmp_path, monkeypatch):
    spec = write_spec("a", plan=PLAN, **SPACE)
    db = tmp_path / "a.db"
    monkeypatch.setenv("FAKE_TASK_INTERRUPT_AFTER", "16")   # 5 evaluations and 1 shard of a 6th
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, db, progress=False, allow_runner=True)
    with ResultsStore(db, readonly=True) as st:
        started = [c["key"] for c in st.configs(status="pending")]
        assert len(started) == 1 and len(st.done_shards(started[0])) == 1
        assert len(st.metrics()) == 5
    monkeypatch.delenv("FAKE_TASK_INTERRUPT_AFTER")
    a = run_sweep(spec, db, progress=False, allow_runner=True)
    assert a.evaluations == 8
    assert started[0] in {c.key for c, _ in a.metrics}
    assert a.shards_run == 8 * 3 - 16                         # the stored shard is kept
    with ResultsStore(db, readonly=True) as st:
        assert len(st.configs()) == len(st.metrics()) == 8 and st.n_items() == 8 * 6
