"""`sweep run --unit-timeout SECONDS` (run_sweep(unit_timeout_s=...)): a unit running longer is
recorded as failed with the reason and the sweep goes on (test double: flaky_task.SlowTask,
whose slow models wait inside an `except Exception`, as AsrTask's batch does)."""
from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from speechbudget.sweep import ResultsStore, run_sweep

HERE = Path(__file__).resolve().parent
SLOW = f"{HERE / 'flaky_task.py'}:SlowTask"
SPACE = {"models": ["tiny.en", "base.en"], "axes": {"window": [30, 10]}, "plan": "grid",
         "task_options": {"n_items": 4, "batch_size": 2}}


def _check_timed_out(summary, db, limit: str) -> None:
    assert summary.finished == 2 and summary.failed == 2
    for label, why in summary.failures.items():
        assert label.startswith("base.en") and why == f"unit timed out after {limit} s " \
                                                      "(--unit-timeout)"
    st = ResultsStore(db, readonly=True)
    assert {c.model for c, _ in st.metrics()} == {"tiny.en"}
    assert all(m.n_failed == 0 for _, m in st.metrics())   # not swallowed as failed items
    failed = st.configs(status="failed")
    assert len(failed) == 2 and all("timed out" in r["reason"] for r in failed)
    st.close()


# pytest-timeout's default method is itself a SIGALRM timer, which the local executor's timeout
# rightly refuses to share (`scripts/test.sh` passes --timeout): here it watches from a thread
@pytest.mark.timeout(900, method="thread")
def test_local_unit_timeout_records_the_unit_failed_and_goes_on(write_spec, tmp_path,
                                                                monkeypatch):
    """Without --unit-timeout a unit that never ends holds the sweep for good (SLOW_S=120 here:
    the test would take minutes per slow unit)."""
    spec = write_spec("s", runner=SLOW, **SPACE)
    db = tmp_path / "s.db"
    monkeypatch.setenv("SLOW_MODELS", "base.en")
    handler = signal.getsignal(signal.SIGALRM)
    s = run_sweep(spec, db, progress=False, allow_runner=True, unit_timeout_s=0.5)
    _check_timed_out(s, db, "0.5")
    assert signal.getsignal(signal.SIGALRM) is handler          # restored
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)   # no timer left armed
    # resumed with the unit fast again: the timed-out shards are retried and finish
    monkeypatch.setenv("SLOW_MODELS", "")
    again = run_sweep(spec, db, progress=False, allow_runner=True, unit_timeout_s=0.5)
    assert again.failed == 0 and again.finished == 4 and again.reused == 2


def test_local_unit_timeout_is_refused_outside_the_main_thread(write_spec, tmp_path):
    spec = write_spec("s", runner=SLOW, **SPACE)
    out: dict = {}

    def go() -> None:
        try:
            run_sweep(spec, tmp_path / "t.db", progress=False, allow_runner=True,
                      unit_timeout_s=1)
        except ValueError as e:
            out["error"] = str(e)
    t = threading.Thread(target=go)
    t.start()
    t.join()
    assert "main thread" in out["error"] and "--executor process" in out["error"]


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), True, "3"])
def test_a_unit_timeout_that_is_not_seconds_is_refused(write_spec, tmp_path, value):
    spec = write_spec("s", runner=SLOW, **SPACE)
    with pytest.raises(ValueError, match="unit_timeout_s=.*expected seconds > 0"):
        run_sweep(spec, tmp_path / "v.db", progress=False, allow_runner=True,
                  unit_timeout_s=value)
    assert not (tmp_path / "v.db").exists()


@pytest.mark.parametrize("value", ["0", "nan", "inf", "x"])
def test_sweep_run_unit_timeout_option_is_checked(write_spec, tmp_path, value):
    from typer.testing import CliRunner

    from speechbudget.cli import app
    spec = write_spec("s", runner=SLOW, **SPACE)
    r = CliRunner().invoke(app, ["sweep", "run", str(spec), str(tmp_path / "c.db"),
                                 "--allow-runner", "--no-progress", "--unit-timeout", value])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and "unit" in r.output.lower()


def test_process_unit_timeout_kills_the_worker_and_goes_on(write_spec, tmp_path, monkeypatch):
    spec = write_spec("s", runner=SLOW, **SPACE)
    db = tmp_path / "p.db"
    monkeypatch.setenv("SLOW_MODELS", "base.en")
    s = run_sweep(spec, db, executor="process", workers=1, progress=False, allow_runner=True,
                  unit_timeout_s=2)
    _check_timed_out(s, db, "2")
