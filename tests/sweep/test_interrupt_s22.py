"""A runner waiting for a shard another runner holds.

1. Two `sweep run`s on one store, the first killed (SIGKILL, OOM) while it held a shard: the
   second waited, silent, its bars stuck one shard short, until the dead runner's lease expired
   (--lease-s, 300 s by default), though the dead runner's process was on this machine and gone
   (`start_run` releases such leases, but only when a run starts). It now takes the shard over
   at once and says so.
2. Waiting for a live runner's shard said nothing either; it now names the shard, the runner
   and when the shard is taken over if that runner stops.

The other runner is planted in the store from a hook at the moment the waiting runner claims
its first shard; `time.sleep` in the driver's wait is replaced, so no test waits on a clock.
"""
from __future__ import annotations

import platform
import time

import pytest

from speechbudget.sweep import ResultsStore, run_sweep
from speechbudget.sweep import driver
from tests.sweep.conftest import dead_pid


def _plant_other_runner(monkeypatch, db, pid: int) -> dict:
    """On the first shard this runner claims: a run of this machine with process `pid` is
    recorded 'running' and holds that shard under a lease that expires in an hour."""
    planted: dict = {}
    claim = driver.Sweep.claim

    def claim_after_the_other(self, u):
        if not planted:
            with ResultsStore(db) as st:
                rid = st.start_run({"name": "other", "digest": "d"},
                                   {"hostname": platform.node(), "pid": pid})
                owner = f"{platform.node()}:{pid}:{rid}:0ther000"
                assert st.claim_shard(u.config.key, u.shard.shard_id, owner, rid, 3600.0)
            planted.update(run_id=rid, shard=u.shard.shard_id, owner=owner)
        return claim(self, u)
    monkeypatch.setattr(driver.Sweep, "claim", claim_after_the_other)
    return planted


class _DriverClock:
    """The `time` module as the driver sees it, with its own `sleep` (the poll of its wait for
    other runners); the task's and everyone else's `time.sleep` stays the real one."""

    def __init__(self, sleep):
        self.sleep = sleep

    def __getattr__(self, name):
        return getattr(time, name)


def _spec(write_spec):
    return write_spec(models=["tiny.en"], axes={"window": [30]},
                      task_options={"n_items": 4, "batch_size": 2})


def test_a_shard_held_by_a_dead_local_runner_is_taken_over_at_once(write_spec, tmp_path,
                                                                   monkeypatch, capsys):
    db = tmp_path / "r.db"
    planted = _plant_other_runner(monkeypatch, db, dead_pid())

    def no_waiting(_s):
        raise AssertionError("waited for the lease of a runner whose process is gone")
    monkeypatch.setattr(driver, "time", _DriverClock(no_waiting))
    s = run_sweep(_spec(write_spec), db, progress=True, device="cpu", allow_runner=True)
    assert (s.finished, s.failed, s.shards_run) == (1, 0, 2)
    err = capsys.readouterr().err
    assert f"run {planted['run_id']} (pid " in err and "is gone: taking over its shards" in err
    with ResultsStore(db, readonly=True) as st:
        status = {r["run_id"]: r["status"] for r in st.runs()}
        assert status[planted["run_id"]] == "killed"
        assert status[s.run_id] == "finished"
        (c,) = st.configs()
        assert st.shard_status(c["key"])[planted["shard"]]["status"] == "done"
        assert st.n_items() == 4


def test_waiting_for_a_live_runner_says_whose_shard_and_until_when(write_spec, tmp_path,
                                                                   monkeypatch, capsys):
    db = tmp_path / "r.db"
    planted = _plant_other_runner(monkeypatch, db, 1)   # pid 1: alive
    sleeps = []

    def other_runner_stops(_s):  # the other runner gives its shard back (as `finish` does)
        sleeps.append(_s)
        with ResultsStore(db) as st:
            st.release_leases(planted["owner"])
    monkeypatch.setattr(driver, "time", _DriverClock(other_runner_stops))
    s = run_sweep(_spec(write_spec), db, progress=True, device="cpu", allow_runner=True)
    assert (s.finished, s.failed, s.shards_run) == (1, 0, 2)
    assert len(sleeps) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert (f"waiting for shard {planted['shard']} of tiny.en 30s, held by run "
            f"{planted['run_id']} (pid 1 on {platform.node()})") in err
    assert "taken over here if its lease is not renewed by" in err


def test_a_library_call_without_progress_prints_nothing_while_taking_over(
        write_spec, tmp_path, monkeypatch, capsys):
    db = tmp_path / "r.db"
    _plant_other_runner(monkeypatch, db, dead_pid())
    monkeypatch.setattr(driver, "time", _DriverClock(lambda _s: pytest.fail("waited")))
    s = run_sweep(_spec(write_spec), db, progress=False, device="cpu", allow_runner=True)
    assert s.finished == 1
    assert capsys.readouterr() == ("", "")
