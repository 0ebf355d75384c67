"""`runs list`: a run still marked 'running' whose process is gone (kill -9) or whose shard
leases all expired (no heartbeat) is shown as 'running?' with why, and the listing writes
nothing to the store (read only): the store still says 'running' until the next `sweep run`."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.sweep.store import ResultsStore
from tests.sweep.conftest import store_files, store_with_killed_run

SPEC = {"name": "s", "digest": "d"}




def _list(db, *extra):
    r = CliRunner().invoke(app, ["runs", "list", str(db), *extra], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    return r.output


def test_killed_process_on_this_machine_is_running_question(tmp_path):
    db = tmp_path / "r.db"
    alive, dead = store_with_killed_run(db)
    before = store_files(tmp_path)
    out = _list(db)
    row = {line.split("│")[1].strip(): line for line in out.splitlines()
           if line.count("│") > 3 and line.split("│")[1].strip().isdigit()}
    assert "running?" in row[str(dead)] and "is gone" in row[str(dead)]
    assert "running?" not in row[str(alive)] and "running" in row[str(alive)]
    runs = {r["run_id"]: r for r in json.loads(_list(db, "--json"))["runs"]}
    assert runs[dead]["status"] == "running" and "is gone" in runs[dead]["stale"]
    assert runs[alive]["stale"] is None
    assert store_files(tmp_path) == before  # read only
    with ResultsStore(db, readonly=True) as st:
        assert [r["status"] for r in st.runs()] == ["running", "running"]


def test_expired_leases_of_another_machine_is_running_question(tmp_path):
    db = tmp_path / "r.db"
    with ResultsStore(db) as st:
        gone = st.start_run(SPEC, {"hostname": "elsewhere", "pid": 1})
        live = st.start_run(SPEC, {"hostname": "elsewhere", "pid": 1})
        quiet = st.start_run(SPEC, {"hostname": "elsewhere", "pid": 1})  # no lease: unknown
        assert st.claim_shard("k", "s0", "owner-a", gone, lease_s=-60)  # expired
        assert st.claim_shard("k", "s1", "owner-b", live, lease_s=3600)
    with ResultsStore(db, readonly=True) as st:
        stale = st.stale_runs()
    assert set(stale) == {gone} and "no heartbeat" in stale[gone]
    assert live not in stale and quiet not in stale
