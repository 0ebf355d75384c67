"""`runs show STORE RUN_ID`: a run still marked 'running' whose process is gone (kill -9) is
shown as `runs list` shows it, 'running?' with why ('stale'), not as the raw 'running'; a live
run stays 'running' (stale null); nothing is written to the store (read only)."""
from __future__ import annotations

import json
import platform
import subprocess
import sys

from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.sweep.store import ResultsStore

SPEC = {"name": "s", "digest": "d"}


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()  # exited and reaped: no such process any more
    return p.pid


def _files(folder):
    """The store's bytes (SQLite's empty -wal / -shm index of a reader left out)."""
    return {x.name: x.read_bytes() for x in sorted(folder.iterdir()) if x.name != "r.db-shm"
            and not (x.name == "r.db-wal" and x.stat().st_size == 0)}


def _show_run(db, run_id) -> dict:
    r = CliRunner().invoke(app, ["runs", "show", str(db), str(run_id)], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    start = r.output.index("{")
    return json.JSONDecoder().raw_decode(r.output[start:])[0]["run"]


def test_runs_show_marks_a_killed_run_stale_read_only(tmp_path):
    db = tmp_path / "r.db"
    with ResultsStore(db) as st:
        alive = st.start_run(SPEC, {"hostname": platform.node(), "pid": 1})
        # (recorded last: start_run would mark it 'killed')
        dead = st.start_run(SPEC, {"hostname": platform.node(), "pid": _dead_pid()})
    before = _files(tmp_path)
    shown = _show_run(db, dead)
    assert shown["status"] == "running?", shown
    assert shown["stale"].startswith("its process") and "is gone" in shown["stale"], shown
    live = _show_run(db, alive)
    assert live["status"] == "running" and live["stale"] is None, live
    assert _files(tmp_path) == before  # read only
    with ResultsStore(db, readonly=True) as st:
        assert [r["status"] for r in st.runs()] == ["running", "running"]
