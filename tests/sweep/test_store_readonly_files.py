"""Reading a results store leaves its folder as it was: a read-only open of a finished store made
SQLite's r.db-wal and r.db-shm beside it and left them there (`speechbudget runs list STORE`,
`runs show`, a report). They are removed again when the reader is done (closed, or its process
ends), by SQLite itself and only when no other connection uses them; the store file is not
written. A live writer's files are left alone."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from speechbudget.sweep.store import ResultsStore

SPEC = {"name": "s", "digest": "d"}


def _finished_store(folder: Path) -> Path:
    db = folder / "r.db"
    with ResultsStore(db) as st:
        st.finish_run(st.start_run(SPEC, {}))
    assert sorted(os.listdir(folder)) == ["r.db"]
    return db


def _state(db: Path) -> tuple[bytes, int]:
    return db.read_bytes(), db.stat().st_mtime_ns


def test_a_closed_reader_leaves_only_the_store(tmp_path):
    db = _finished_store(tmp_path)
    before = _state(db)
    st = ResultsStore(db, readonly=True)
    assert [r["status"] for r in st.runs()] == ["finished"]
    st.close()
    assert sorted(os.listdir(tmp_path)) == ["r.db"]
    assert _state(db) == before  # not written


def test_runs_list_and_show_leave_only_the_store(tmp_path):
    db = _finished_store(tmp_path)
    before = _state(db)
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    for args in (["runs", "list", str(db)], ["runs", "show", str(db), "1"]):
        r = subprocess.run([sys.executable, "-m", "speechbudget.cli", *args], env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert sorted(os.listdir(tmp_path)) == ["r.db"], args
    assert _state(db) == before


def test_a_reader_beside_a_live_writer_leaves_its_files(tmp_path):
    db = _finished_store(tmp_path)
    writer = ResultsStore(db)
    run = writer.start_run(SPEC, {})
    with ResultsStore(db, readonly=True) as st:
        assert [r["status"] for r in st.runs()] == ["finished", "running"]
    # the writer's -wal (its run not yet in the file) and -shm stay while it is open
    assert {"r.db-wal", "r.db-shm"} <= set(os.listdir(tmp_path))
    writer.finish_run(run)
    writer.close()
    with ResultsStore(db, readonly=True) as st:
        assert [r["status"] for r in st.runs()] == ["finished", "finished"]
    assert sorted(os.listdir(tmp_path)) == ["r.db"]


def test_two_readers_the_second_keeps_reading(tmp_path):
    db = _finished_store(tmp_path)
    first, second = ResultsStore(db, readonly=True), ResultsStore(db, readonly=True)
    first.runs()
    second.runs()
    first.close()  # the second still reads through the -shm: it is not removed under it
    assert {"r.db-wal", "r.db-shm"} <= set(os.listdir(tmp_path))
    assert [r["status"] for r in second.runs()] == ["finished"]
    second.close()
    assert sorted(os.listdir(tmp_path)) == ["r.db"]
