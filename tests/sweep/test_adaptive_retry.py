"""Adaptive search: a configuration that failed in an earlier run is tried again on the next
run (run.py: "it is tried again the next time the sweep runs"), as a plan's sweep does."""
from __future__ import annotations

from pathlib import Path

from speechbudget.sweep import ResultsStore, run_sweep

HERE = Path(__file__).resolve().parent
FLAKY = f"{HERE / 'flaky_task.py'}:FlakyTask"
SPACE = {"models": ["tiny.en", "base.en", "small.en"],
         "axes": {"window": [30, 20, 10, 5], "stride": [1, 2, 4]},
         "task_options": {"n_items": 6, "batch_size": 3}}
PLAN = {"type": "adaptive", "n_trials": 10, "seed": 3}


def test_a_resumed_search_retries_what_failed_before(write_spec, tmp_path, monkeypatch):
    """The resumed search used to count the stored failures as evaluated and never run them:
    the 4 failed configurations stayed 'failed' with the old reason while the run reported
    0 failed (exit 0)."""
    spec = write_spec("a", plan=PLAN, runner=FLAKY, **SPACE)
    db = tmp_path / "a.db"
    monkeypatch.setenv("FLAKY_FAIL_MODELS", "base.en")
    first = run_sweep(spec, db, progress=False, allow_runner=True)
    assert first.evaluations == 10 and first.failed >= 1
    n_failed = first.failed
    monkeypatch.setenv("FLAKY_FAIL_MODELS", "")
    again = run_sweep(spec, db, progress=False, allow_runner=True)
    assert again.evaluations == 10 and again.failed == 0
    assert len(again.metrics) == 10 and again.shards_run == n_failed * 2
    st = ResultsStore(db, readonly=True)
    assert not st.configs(status="failed") and len(st.metrics()) == 10
    st.close()


def test_a_configuration_that_fails_again_is_counted_failed_again(write_spec, tmp_path,
                                                                 monkeypatch):
    spec = write_spec("a", plan=PLAN, runner=FLAKY, **SPACE)
    db = tmp_path / "a.db"
    monkeypatch.setenv("FLAKY_FAIL_MODELS", "base.en")
    first = run_sweep(spec, db, progress=False, allow_runner=True)
    again = run_sweep(spec, db, progress=False, allow_runner=True)
    assert again.evaluations == 10 and again.failed == first.failed >= 1
    assert set(again.failures) == set(first.failures)
