"""A race run with --recompute-stale (sweep run, run_sweep(recompute_stale=True)) races the
configurations it recomputes like new ones. It did not: the race took every configuration with
stored metrics as finished before the race (never eliminated) before the stale ones' results
were discarded, so each recomputed configuration ran every item and was never stopped (shown
by: a full grid with rule 1 of the task, then the same grid raced under rule 2 with
--recompute-stale: nothing eliminated, 240 items run; a fresh race eliminates 6 of them)."""
from __future__ import annotations

from speechbudget.sweep import ResultsStore, run_sweep
from tests.sweep.conftest import HERE

VERSIONED = f"{HERE / 'fake_task.py'}:VersionedFakeTask"   # window-10 configurations versioned
SPACE = {"models": ["tiny.en", "base.en", "small.en"],
         "axes": {"window": [30, 10], "stride": [1, 4]},
         "task_options": {"n_items": 40, "batch_size": 5}, "runner": VERSIONED}
RACE = {"type": "grid", "race": {"first_items": 10, "growth": 2, "rule": "best"}}


def _stored(db):
    with ResultsStore(db, readonly=True) as st:
        return {c["label"]: (c["status"], sorted((r.item_id, r.errors, r.extra.get("rule"))
                                                 for r in st.items(c["key"])))
                for c in st.configs()}


def test_a_recomputed_configuration_races_like_a_new_one(write_spec, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_RESULT_VERSION", "2")
    fresh = run_sweep(write_spec("race", plan=RACE, **SPACE), tmp_path / "fresh.db",
                      progress=False, allow_runner=True)
    stale = {label for label in _stored(tmp_path / "fresh.db") if " 10s" in label}
    assert len(stale) == 6
    expected = {k: v for k, v in _stored(tmp_path / "fresh.db").items() if k in stale}
    assert any(status == "eliminated" for status, _ in expected.values())

    db = tmp_path / "re.db"
    monkeypatch.setenv("FAKE_RESULT_VERSION", "1")
    run_sweep(write_spec("full", plan="grid", **SPACE), db, progress=False, allow_runner=True)
    monkeypatch.setenv("FAKE_RESULT_VERSION", "2")
    race = run_sweep(write_spec("race", plan=RACE, **SPACE), db, progress=False,
                     allow_runner=True, recompute_stale=True)
    got = _stored(db)
    # the recomputed configurations: the same statuses and the same items (rule 2 only) as in
    # a race on a fresh store; eliminated ones hold fewer than all 40 items
    assert {k: v for k, v in got.items() if k in stale} == expected
    assert {label for label in race.eliminated} == \
        {label for label, (status, _) in expected.items() if status == "eliminated"}
    assert all(len(items) < 40 for status, items in expected.values() if status == "eliminated")
    # the others were finished before the race: kept, not eliminated, counted as reused
    assert all(status == "done" and len(items) == 40 and {r for *_, r in items} == {1}
               for label, (status, items) in got.items() if label not in stale)
    assert race.reused == 6 and race.shards_skipped == 6 * 8
    assert race.items_run == sum(len(items) for label, (_, items) in got.items()
                                 if label in stale) < 6 * 40
    assert fresh.rounds == race.rounds
