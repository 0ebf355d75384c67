"""An adaptive search checks its stored evaluations against the task's rule
(`driver.result_version`), as a plan's sweep does. It did not: configurations whose results
came from an older rule were replayed to the sampler as they were, neither refused nor
recomputed even with --recompute-stale (shown by: an adaptive search under rule 1 of
VersionedFakeTask, then the same search under rule 2: no error, nothing run; with
recompute_stale=True: nothing run, every item still of rule 1). Now the search stops with the
StoreError (exit 4), and with recompute_stale recomputes those evaluations, and only them."""
from __future__ import annotations

import pytest

from speechbudget.sweep import ResultsStore, StoreError, run_sweep
from tests.sweep.conftest import HERE

VERSIONED = f"{HERE / 'fake_task.py'}:VersionedFakeTask"   # window-10 configurations versioned
SPACE = {"models": ["tiny.en", "base.en"], "axes": {"window": [30, 10], "stride": [1, 2]},
         "task_options": {"n_items": 6, "batch_size": 2}, "runner": VERSIONED}
PLAN = {"type": "adaptive", "n_trials": 5, "seed": 0}


def _stored(db):
    with ResultsStore(db, readonly=True) as st:
        return {c["label"]: sorted((r.item_id, r.extra.get("rule")) for r in st.items(c["key"]))
                for c in st.configs()}


def test_an_adaptive_search_refuses_then_recomputes_an_older_rule(write_spec, tmp_path,
                                                                  monkeypatch):
    spec = write_spec("a", plan=PLAN, **SPACE)
    db = tmp_path / "a.db"
    monkeypatch.setenv("FAKE_RESULT_VERSION", "1")
    run_sweep(spec, db, progress=False, allow_runner=True)
    before = _stored(db)
    stale = {label for label in before if " 10s" in label}
    assert len(before) == 5 and stale                   # some evaluations have the new rule
    monkeypatch.setenv("FAKE_RESULT_VERSION", "2")
    with pytest.raises(StoreError, match="--recompute-stale") as e:
        run_sweep(spec, db, progress=False, allow_runner=True)
    assert e.value.exit_code == 4 and _stored(db) == before
    again = run_sweep(spec, db, progress=False, allow_runner=True, recompute_stale=True)
    after = _stored(db)
    assert set(after) == set(before)                    # the same evaluations, no others
    assert again.evaluations == 5 and again.shards_run == 3 * len(stale)
    for label, items in after.items():
        if label in stale:
            assert [i for i, _ in items] == [i for i, _ in before[label]]
            assert {rule for _, rule in items} == {2}
        else:
            assert items == before[label]
    done = run_sweep(spec, db, progress=False, allow_runner=True)   # now current: nothing runs
    assert done.shards_run == 0 and done.evaluations == 5
