"""A run that an error stops is recorded 'failed' with the error as its reason, not
'interrupted' (which is Ctrl-C). Shown by: `sweep run` with plan.optuna_storage holding another
study (exit 2) left its run 'interrupted'; an iso_flops plan that selects nothing (exit 2) left
its run 'finished'; a configuration stored with other task options (exit 4) 'interrupted'.
A store whose runs table predates the reason column still reads, and gains it on writing."""
from __future__ import annotations

import sqlite3

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.sweep import ResultsStore, StoreError, run_sweep
from speechbudget.sweep.spec import SpecError
from speechbudget.sweep.store_schema import APPLICATION_ID
from tests.sweep.test_race_uncompared_stored import V2_SCHEMA


def _last_run(db):
    with ResultsStore(db, readonly=True) as st:
        return st.runs()[-1]


def test_an_optuna_storage_of_another_study_fails_the_run(write_spec, tmp_path, monkeypatch):
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(storage=url, study_name="s1", direction="maximize")
    p = write_spec("a", plan={"type": "adaptive", "n_trials": 2, "seed": 0,
                              "optuna_storage": url, "study_name": "s1"})
    with pytest.raises(SpecError):
        run_sweep(p, tmp_path / "a.db", progress=False, allow_runner=True)
    run = _last_run(tmp_path / "a.db")
    assert run["status"] == "failed" and run["finished"] is not None
    assert run["reason"].startswith("SpecError: ") and "plan.optuna_storage" in run["reason"]
    assert "not this plan's study" in run["reason"]
    monkeypatch.setenv("COLUMNS", "300")
    r = CliRunner().invoke(app, ["sweep", "run", str(p), str(tmp_path / "b.db"),
                                 "--allow-runner", "--no-progress"])
    assert r.exit_code == 2, r.output
    r = CliRunner().invoke(app, ["runs", "list", str(tmp_path / "b.db")])
    assert r.exit_code == 0 and "failed" in r.output and "plan.optuna_storage" in r.output


def test_a_plan_that_selects_nothing_fails_the_run(write_spec, tmp_path):
    p = write_spec("iso", plan={"type": "iso_flops", "budgets_gflops": [1e-9], "audio_s": 12},
                   axes={"window": [30, 10], "stride": [1]})
    with pytest.raises(SpecError):
        run_sweep(p, tmp_path / "a.db", progress=False, allow_runner=True)
    run = _last_run(tmp_path / "a.db")
    assert run["status"] == "failed" and "plan.budgets_gflops" in run["reason"]


def test_a_store_conflict_fails_the_run(write_spec, tmp_path):
    db = tmp_path / "a.db"
    run_sweep(write_spec("a"), db, progress=False, allow_runner=True)
    other = write_spec("a", task_options={"n_items": 4, "batch_size": 2})
    with pytest.raises(StoreError, match="already stored with a different"):
        run_sweep(other, db, progress=False, allow_runner=True)
    runs = ResultsStore(db, readonly=True).runs()
    assert [r["status"] for r in runs] == ["finished", "failed"]
    assert runs[0]["reason"] is None
    assert runs[1]["reason"].startswith("StoreError: ") and "task_options" in runs[1]["reason"]


def test_a_store_without_the_reason_column_reads_and_gains_it(tmp_path):
    db = tmp_path / "old.db"
    con = sqlite3.connect(db, isolation_level=None)
    con.executescript(V2_SCHEMA)
    con.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    con.execute("PRAGMA user_version = 2")
    con.execute("INSERT INTO runs (spec_name, started, finished, status, environment_json) "
                "VALUES ('old', 1.0, 2.0, 'interrupted', '{}')")
    con.close()
    with ResultsStore(db, readonly=True) as st:
        assert st.runs()[0]["status"] == "interrupted" and st.runs()[0]["reason"] is None
    with ResultsStore(db) as st:
        run = st.start_run({"name": "new"}, {})
        st.finish_run(run, "failed", "SpecError: x")
        assert [(r["status"], r["reason"]) for r in st.runs()] == [
            ("interrupted", None), ("failed", "SpecError: x")]
