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


def test_a_race_on_a_store_with_the_full_grid_keeps_every_finished_configuration(write_spec,
                                                                                 tmp_path):
    """Racing a grid that a full sweep already finished on the same store computes nothing and
    stops nothing: it used to mark 6 of the 12 finished configurations 'eliminated', which
    hid their stored metrics from store.metrics() (recommend, report)."""
    plain = {k: v for k, v in SPACE.items()}
    db = tmp_path / "s.db"
    full = run_sweep(write_spec("full", plan="grid", **plain), db, progress=False,
                     allow_runner=True)
    assert len(full.metrics) == 12
    race = run_sweep(write_spec("race", plan=RACE, **plain), db, progress=False,
                     allow_runner=True)
    assert race.items_run == 0 and not race.eliminated
    assert race.finished == race.reused == len(race.metrics) == 12
    st = ResultsStore(db, readonly=True)
    assert len(st.metrics()) == 12
    st.close()
