"""`sweep run` where every item of every configuration failed (unreadable audio): the summary
said 'run 1: 2 finished, 0 failed' and its table 'nan %', though nothing was scored. A
configuration with no item scored now counts as failed there, its value reads 'n/a' (as
`runs list`), and the command exits 1 (docs/security.md)."""
from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from speechbudget.cli import app

HERE = Path(__file__).resolve().parent
RUNNER = f"{HERE / 'flaky_task.py'}:FlakyItemsScoredTask"
SPACE = {"models": ["tiny.en"], "axes": {"window": [30, 10]}, "plan": "grid",
         "task_options": {"n_items": 4, "batch_size": 2}}


def _ids(spec) -> str:
    import sys
    sys.path.insert(0, str(HERE))
    from fake_task import FakeTask
    from speechbudget.sweep import load_spec
    s = load_spec(spec)
    t = FakeTask(**s.task_options)
    return ",".join(i.id for i in t.load_dataset(s.data).items)


def test_every_item_failed_counts_as_failed(write_spec, tmp_path, monkeypatch):
    spec = write_spec("s", runner=RUNNER, **SPACE)
    monkeypatch.setenv("FLAKY_FAIL_ITEMS", _ids(spec))
    monkeypatch.setenv("COLUMNS", "200")
    db = tmp_path / "s.db"
    r = CliRunner().invoke(app, ["sweep", "run", str(spec), str(db), "--allow-runner",
                                 "--no-progress"])
    assert r.exit_code == 1, r.output
    assert "0 finished, 2 failed (2 with every item failed)" in r.output, r.output
    r = CliRunner().invoke(app, ["sweep", "run", str(spec), str(tmp_path / "t.db"),
                                 "--allow-runner", "--progress"])
    assert r.exit_code == 1, r.output
    assert "0 finished, 2 failed" in r.output, r.output
    assert "nan" not in r.output
    assert r.output.count("n/a") == 2, r.output


def test_one_configuration_scored_still_finished(write_spec, tmp_path, monkeypatch):
    """Items failed, but not every one: the configuration finished (with failed items)."""
    spec = write_spec("s", runner=RUNNER, **SPACE)
    monkeypatch.setenv("FLAKY_FAIL_ITEMS", _ids(spec).split(",")[0])
    r = CliRunner().invoke(app, ["sweep", "run", str(spec), str(tmp_path / "s.db"),
                                 "--allow-runner", "--no-progress"])
    assert r.exit_code == 1, r.output
    assert "2 finished, 0 failed" in r.output, r.output


def test_library_summary_counts_every_item_failed_as_failed(write_spec, tmp_path,
                                                             monkeypatch):
    """run_sweep's RunSummary (what a library caller reads) counted such a configuration as
    finished (finished 2, failed 0) while the command line said '0 finished, 2 failed'; it now
    decides the same way (driver.none_scored), in the run that computes it and on a resume
    that finds it stored."""
    from speechbudget.sweep import run_sweep
    spec = write_spec("s", runner=RUNNER, **SPACE)
    monkeypatch.setenv("FLAKY_FAIL_ITEMS", _ids(spec))
    db = tmp_path / "s.db"
    s = run_sweep(spec, db, device="cpu", allow_runner=True, retry_failed=False)
    assert (s.finished, s.failed, len(s.metrics)) == (0, 2, 2), s
    assert sorted(s.none_scored) == sorted(c.label for c, _ in s.metrics)
    again = run_sweep(spec, db, device="cpu", allow_runner=True, retry_failed=False)
    assert (again.finished, again.failed, again.reused) == (0, 2, 2), again
