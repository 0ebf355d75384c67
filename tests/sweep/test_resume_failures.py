"""Resume after failures (test-double runner tests/sweep/flaky_task.py): what failed before is
counted failed again when it is not retried, so the exit code says so."""
from __future__ import annotations

from pathlib import Path

from speechbudget.sweep import ResultsStore, run_sweep

HERE = Path(__file__).resolve().parent
FLAKY = f"{HERE / 'flaky_task.py'}:FlakyTask"
SPACE = {"models": ["tiny.en", "base.en"], "axes": {"window": [30, 10]}, "plan": "grid",
         "task_options": {"n_items": 6, "batch_size": 2}}


def test_not_retrying_a_failed_shard_counts_its_configuration_failed(write_spec, tmp_path,
                                                                    monkeypatch):
    """With retry_failed=False (--no-retry-failed) a configuration whose first shard failed
    before ran its other shards and was then neither finished nor counted failed: the run said
    0 failed (sweep run exit 0) over 2 configurations left 'failed'."""
    spec = write_spec("s", runner=FLAKY, **SPACE)
    db = tmp_path / "s.db"
    monkeypatch.setenv("FLAKY_FAIL_MODELS", "base.en")
    first = run_sweep(spec, db, progress=False, allow_runner=True)
    assert first.failed == 2 and first.finished == 2
    monkeypatch.setenv("FLAKY_FAIL_MODELS", "")
    again = run_sweep(spec, db, progress=False, allow_runner=True, retry_failed=False)
    assert again.shards_run == 4          # the shards never run before are run and kept
    assert again.failed == 2 and again.finished == 2
    assert sorted(again.failures) == sorted(first.failures)
    assert all("failed in an earlier run and is not retried: RuntimeError: flaky" in why
               for why in again.failures.values())
    # nothing left to run: still failed, still counted
    third = run_sweep(spec, db, progress=False, allow_runner=True, retry_failed=False)
    assert third.shards_run == 0 and third.failed == 2 and len(third.failures) == 2
    # retried: every configuration finishes
    last = run_sweep(spec, db, progress=False, allow_runner=True)
    assert last.failed == 0 and last.finished == 4
    st = ResultsStore(db, readonly=True)
    assert not st.configs(status="failed") and len(st.metrics()) == 4
    st.close()


def test_a_configuration_whose_metrics_cannot_be_aggregated_is_counted_failed(
        write_spec, tmp_path, monkeypatch):
    """The task's aggregate raising used to leave the configuration 'failed' in the store but
    counted finished in the summary ('4 finished, 0 failed', exit 0, 2 metrics), and 'already
    in the store' on the next run."""
    spec = write_spec("s", runner=f"{HERE / 'flaky_task.py'}:FlakyAggregateTask", **SPACE)
    db = tmp_path / "s.db"
    monkeypatch.setenv("FLAKY_AGGREGATE_FAIL_MODELS", "base.en")
    first = run_sweep(spec, db, progress=False, allow_runner=True)
    assert (first.finished, first.failed, len(first.metrics)) == (2, 2, 2)
    assert all(why.startswith("aggregate: ValueError") for why in first.failures.values())
    again = run_sweep(spec, db, progress=False, allow_runner=True)
    assert (again.finished, again.failed, again.reused, again.shards_run) == (2, 2, 2, 0)
    monkeypatch.setenv("FLAKY_AGGREGATE_FAIL_MODELS", "")
    last = run_sweep(spec, db, progress=False, allow_runner=True)
    assert (last.finished, last.failed, len(last.metrics), last.shards_run) == (4, 0, 4, 0)


def test_sweep_run_names_a_failed_configuration_without_progress(write_spec, tmp_path,
                                                                 monkeypatch):
    """docs/security.md: exit 1 with one line naming what to read. With --no-progress a failed
    configuration gave only '0 finished, 2 failed' (the progress table that names them is off)."""
    from typer.testing import CliRunner

    from speechbudget.cli import app

    spec = write_spec("s", runner=FLAKY, **SPACE)
    db = tmp_path / "s.db"
    monkeypatch.setenv("FLAKY_FAIL_MODELS", "base.en")
    monkeypatch.setenv("COLUMNS", "250")
    r = CliRunner().invoke(app, ["sweep", "run", str(spec), str(db), "--allow-runner",
                                 "--no-progress"])
    assert r.exit_code == 1, r.output
    flat = " ".join(r.output.split())
    assert "2 configuration(s) failed, e.g. base.en" in flat and "RuntimeError: flaky" in flat
    assert f"`speechbudget runs list {db}` lists them" in flat
