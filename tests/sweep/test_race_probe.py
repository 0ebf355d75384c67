"""Racing and resume corner cases found by probing (test doubles only, no model runs)."""
from __future__ import annotations

from pathlib import Path

from speechbudget.sweep import ResultsStore, run_sweep

HERE = Path(__file__).resolve().parent
FLAKY = f"{HERE / 'flaky_task.py'}:FlakyTask"
SPACE = {"models": ["tiny.en", "base.en", "small.en"],
         "axes": {"window": [30, 10], "stride": [1, 4]},
         "task_options": {"n_items": 40, "batch_size": 5}}
RACE = {"type": "grid", "race": {"first_items": 10, "growth": 2}}


def _statuses(db):
    st = ResultsStore(db, readonly=True)
    out = {r["label"]: (r["status"], len(st.done_shards(r["key"]))) for r in st.configs()}
    st.close()
    return out


def test_a_race_resumed_after_a_failure_races_the_configurations_that_now_work(
        write_spec, tmp_path, monkeypatch):
    """A configuration that failed in an earlier run and whose shards succeed on the resume
    races on like the others: it was dropped after the first round (the store's stale 'failed'
    status read as a failure of this run), left 'failed' with the old reason, and the run
    reported 0 failed (exit 0) with it unfinished."""
    spec = write_spec("race", plan=RACE, runner=FLAKY, **SPACE)
    db = tmp_path / "r.db"
    monkeypatch.setenv("FLAKY_FAIL_MODELS", "base.en")
    first = run_sweep(spec, db, progress=False, allow_runner=True)
    assert first.failed == 4 and all("base.en" in k for k in first.failures)
    monkeypatch.setenv("FLAKY_FAIL_MODELS", "")
    again = run_sweep(spec, db, progress=False, allow_runner=True)
    assert again.failed == 0
    fresh = run_sweep(spec, tmp_path / "fresh.db", progress=False, allow_runner=True)
    got = _statuses(db)
    assert "failed" not in {s for s, _ in got.values()}
    assert {k: s for k, (s, _) in got.items()} == \
        {k: s for k, (s, _) in _statuses(tmp_path / "fresh.db").items()}
    assert sorted(c.key for c, _ in again.metrics) == sorted(c.key for c, _ in fresh.metrics)
