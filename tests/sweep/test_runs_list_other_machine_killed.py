"""A run killed on another machine between shards (its shard leases released as each shard was
stored, its process not one this machine can look up) stayed 'running' in `runs list` for ever:
only shard leases told a dead runner of another machine. A run now holds its own lease from its
start to its end (`ResultsStore.hold_run`), renewed with its shard leases; once it expires the
run is shown stale ('running?'), as a killed run of this machine is."""
from __future__ import annotations

import time

from speechbudget.sweep import load_spec
from speechbudget.sweep.driver import Sweep
from speechbudget.sweep.executors import make_executor
from speechbudget.sweep.store import ResultsStore


def test_run_of_another_machine_is_stale_once_its_lease_expired(write_spec, tmp_path,
                                                                monkeypatch):
    import speechbudget.sweep.driver as driver
    real = driver.environment
    monkeypatch.setattr(driver, "environment",
                        lambda *a: {**real(*a), "hostname": "elsewhere", "pid": 1})
    spec = load_spec(write_spec(axes={"window": [30]}, models=["tiny.en"]))
    db = tmp_path / "r.db"
    store = ResultsStore(db)
    ex = make_executor("local", None, "cpu", None, 0)
    sweep = Sweep(spec, store, ex, "cpu", progress=False, retry_failed=True, lease_s=60)
    run_id = sweep.run_id
    try:
        with ResultsStore(db, readonly=True) as st:
            assert run_id not in st.stale_runs()             # alive: its lease runs
            # its runner dies (no more renewals); a minute later the lease has expired
            stale = st.stale_runs(now=time.time() + 61)
        assert "no heartbeat" in stale[run_id], stale
    finally:
        sweep._stop_leases()
        store.close()
        ex.close()
