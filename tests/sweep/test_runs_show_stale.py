"""`runs show STORE RUN_ID`: a run still marked 'running' whose process is gone (kill -9) is
shown as `runs list` shows it, 'running?' with why ('stale'), not as the raw 'running'; a live
run stays 'running' (stale null); nothing is written to the store (read only)."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.sweep.store import ResultsStore
from tests.sweep.conftest import store_files, store_with_killed_run


def _show_run(db, run_id) -> dict:
    r = CliRunner().invoke(app, ["runs", "show", str(db), str(run_id)], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    start = r.output.index("{")
    return json.JSONDecoder().raw_decode(r.output[start:])[0]["run"]


def test_runs_show_marks_a_killed_run_stale_read_only(tmp_path):
    db = tmp_path / "r.db"
    alive, dead = store_with_killed_run(db)
    before = store_files(tmp_path)
    shown = _show_run(db, dead)
    assert shown["status"] == "running?", shown
    assert shown["stale"].startswith("its process") and "is gone" in shown["stale"], shown
    live = _show_run(db, alive)
    assert live["status"] == "running" and live["stale"] is None, live
    assert store_files(tmp_path) == before  # read only
    with ResultsStore(db, readonly=True) as st:
        assert [r["status"] for r in st.runs()] == ["running", "running"]
