"""`sweep run --retry-failed` (run_sweep(retry_items=True)): items stored as failed inside
finished shards are run again on resume; what succeeded is never recomputed or replaced, and the
metrics are aggregated again from all items (test doubles: tests/sweep/flaky_task.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from speechbudget.sweep import ResultsStore, run_sweep

HERE = Path(__file__).resolve().parent
SUBSETS = f"{HERE / 'flaky_task.py'}:FlakyItemsTask"
WHOLE = f"{HERE / 'flaky_task.py'}:FlakyItemsWholeShardTask"
SPACE = {"models": ["tiny.en"], "axes": {"window": [30, 10]}, "plan": "grid",
         "task_options": {"n_items": 6, "batch_size": 2}}


def _shards(spec_path):
    """The test double's shards (same for every configuration), as the sweep plans them."""
    sys.path.insert(0, str(HERE))
    from fake_task import FakeTask
    from speechbudget.sweep import load_spec
    s = load_spec(spec_path)
    t = FakeTask(**s.task_options)
    return t.shards(None, t.load_dataset(s.data))


def _rows(db):
    st = ResultsStore(db, readonly=True)
    out = {c.key: {r.item_id: r for r in st.items(c.key)} for c, _ in st.metrics()}
    metrics = {c.key: m for c, m in st.metrics()}
    st.close()
    return out, metrics


def _logged(log: Path) -> list[tuple[str, str]]:
    return [tuple(x.split()) for x in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize("runner", [SUBSETS, WHOLE])
def test_retry_failed_runs_failed_items_again_and_keeps_what_succeeded(
        runner, write_spec, tmp_path, monkeypatch):
    """Before --retry-failed a resumed sweep never ran a failed item again: the store kept
    'cannot read' items (n_failed 2, sweep run exit 1) until a new store was used."""
    spec = write_spec("s", runner=runner, **SPACE)
    shards = _shards(spec)
    bad = [shards[0].item_ids[0], shards[2].item_ids[1]]
    db, clean = tmp_path / "s.db", tmp_path / "clean.db"
    log = tmp_path / "log.txt"
    run_sweep(spec, clean, progress=False, allow_runner=True)
    monkeypatch.setenv("FLAKY_FAIL_ITEMS", ",".join(bad))
    first = run_sweep(spec, db, progress=False, allow_runner=True)
    assert all(m.n_failed == 2 for _, m in first.metrics)
    before, _ = _rows(db)
    monkeypatch.setenv("FLAKY_FAIL_ITEMS", "")
    monkeypatch.setenv("FLAKY_LOG", str(log))
    plain = run_sweep(spec, db, progress=False, allow_runner=True)   # a resume retries no item
    assert plain.shards_run == 0 and _logged(log) == []
    assert all(m.n_failed == 2 for _, m in plain.metrics)

    again = run_sweep(spec, db, progress=False, allow_runner=True, retry_items=True)
    after, metrics = _rows(db)
    ran = _logged(log)
    if runner == SUBSETS:   # only the failed items were evaluated
        assert sorted(i for _, i in ran) == sorted(bad * 2)
    else:                   # whole shards: those holding a failed item, nothing else
        assert sorted(i for _, i in ran) == sorted(
            (shards[0].item_ids + shards[2].item_ids) * 2)
    assert again.shards_run == 4 and again.items_run == 4 and again.finished == 2
    assert again.reused == 0 and again.failed == 0
    for key, rows in after.items():
        for iid, r in rows.items():
            assert r.ok, (key, iid, r.error)
            if iid not in bad:   # an item that succeeded is the same stored row
                assert r == before[key][iid]
    # aggregated again from all the items: as a run in which nothing failed
    _, want = _rows(clean)
    for key, m in metrics.items():
        assert (m.n_failed, m.n_items, m.value, m.gflops) == \
            (0, want[key].n_items, want[key].value, want[key].gflops)
    # nothing left to retry: a further retry runs nothing
    log.unlink()
    last = run_sweep(spec, db, progress=False, allow_runner=True, retry_items=True)
    assert last.shards_run == 0 and last.reused == 2 and _logged(log) == []


def test_a_retry_that_fails_again_keeps_the_items_failed_and_the_rest(write_spec, tmp_path,
                                                                      monkeypatch):
    spec = write_spec("s", runner=SUBSETS, **SPACE)
    bad = [_shards(spec)[1].item_ids[0]]
    db = tmp_path / "s.db"
    monkeypatch.setenv("FLAKY_FAIL_ITEMS", ",".join(bad))
    run_sweep(spec, db, progress=False, allow_runner=True)
    before, _ = _rows(db)
    monkeypatch.setenv("FLAKY_RAISE", "1")   # the retry unit itself raises
    again = run_sweep(spec, db, progress=False, allow_runner=True, retry_items=True)
    assert again.failed == 0 and again.finished == 2    # still finished, still with n_failed 1
    after, metrics = _rows(db)
    assert all(m.n_failed == 1 for m in metrics.values())
    for key, rows in after.items():
        for iid, r in rows.items():
            if iid in bad:
                assert not r.ok and "retry in run" in r.error and "flaky unit failure" in r.error
            else:
                assert r == before[key][iid]
    st = ResultsStore(db, readonly=True)
    assert all(v["status"] == "done" for c, _ in st.metrics()
               for v in st.shard_status(c.key).values())
    st.close()


def test_retry_items_without_retry_failed_is_refused(write_spec, tmp_path):
    spec = write_spec("s", runner=SUBSETS, **SPACE)
    with pytest.raises(ValueError, match="retry_items=True"):
        run_sweep(spec, tmp_path / "s.db", progress=False, allow_runner=True,
                  retry_failed=False, retry_items=True)


def test_sweep_run_retry_failed_flag(write_spec, tmp_path, monkeypatch):
    """sweep run --retry-failed: exit 1 while an item is failed, 0 once it is retried."""
    from typer.testing import CliRunner

    from speechbudget.cli import app
    spec = write_spec("s", runner=SUBSETS, **SPACE)
    db = tmp_path / "s.db"
    monkeypatch.setenv("FLAKY_FAIL_ITEMS", _shards(spec)[0].item_ids[1])
    args = ["sweep", "run", str(spec), str(db), "--allow-runner", "--no-progress"]
    assert CliRunner().invoke(app, args).exit_code == 1
    monkeypatch.setenv("FLAKY_FAIL_ITEMS", "")
    assert CliRunner().invoke(app, args).exit_code == 1                     # not retried
    assert CliRunner().invoke(app, args + ["--no-retry-failed"]).exit_code == 1
    r = CliRunner().invoke(app, args + ["--retry-failed"])
    assert r.exit_code == 0, r.output
    help_text = " ".join(CliRunner().invoke(app, ["sweep", "run", "--help"]).output.split())
    assert "--retry-failed" in help_text and "--no-retry-failed" in help_text


def test_an_adaptive_search_retries_failed_items_of_its_evaluations(write_spec, tmp_path,
                                                                    monkeypatch):
    """The resumed search replays its evaluations; with retry_items their failed items run
    again (and only those), the number of evaluations unchanged."""
    spec = write_spec("a", runner=SUBSETS, plan={"type": "adaptive", "n_trials": 4, "seed": 3},
                      models=["tiny.en", "base.en"],
                      axes={"window": [30, 10], "stride": [1, 2]},
                      task_options={"n_items": 6, "batch_size": 2})
    bad = _shards(spec)[1].item_ids[0]
    db, log = tmp_path / "a.db", tmp_path / "log.txt"
    monkeypatch.setenv("FLAKY_FAIL_ITEMS", bad)
    first = run_sweep(spec, db, progress=False, allow_runner=True)
    assert first.evaluations == 4 and all(m.n_failed == 1 for _, m in first.metrics)
    monkeypatch.setenv("FLAKY_FAIL_ITEMS", "")
    monkeypatch.setenv("FLAKY_LOG", str(log))
    again = run_sweep(spec, db, progress=False, allow_runner=True, retry_items=True)
    assert again.evaluations == 4 and len(again.metrics) == 4
    assert all(m.n_failed == 0 for _, m in again.metrics)
    assert sorted(i for _, i in _logged(log)) == [bad] * 4
