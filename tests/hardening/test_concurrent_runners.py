"""Several `sweep run`s on one store share the work through shard leases: every shard is run
exactly once; a runner stopped while holding a lease has its shard taken over once the lease
expires; a killed one's lease is released at once (same machine, process gone)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from speechbudget.sweep import ResultsStore

pytestmark = pytest.mark.timeout(240)
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
N_CONFIGS, N_SHARDS = 8, 3


def make_spec(tmp_path, bundled_librispeech, **opts) -> Path:
    d = {"task": "asr", "data": str(bundled_librispeech), "runner": f"{HERE / 'ledger_task.py'}:LedgerTask",
         "task_options": {"n_items": 6, "batch_size": 2, "ledger": str(tmp_path / "ledger.txt"),
                          **opts},
         "models": ["tiny.en", "base"], "axes": {"window": [30, 10], "stride": [1, 2]},
         "plan": "grid"}
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def runner(spec: Path, db: Path, lease_s: float, **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-c", "from speechbudget.cli import main; main()", "sweep", "run",
           str(spec), "--store", str(db), "--no-progress", "--device", "cpu", "--allow-runner",
           "--lease-s", str(lease_s)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def ledger(tmp_path) -> list[tuple[str, str, str, str]]:
    return [tuple(x.split()) for x in (tmp_path / "ledger.txt").read_text().splitlines()]


def check_complete(db: Path) -> None:
    st = ResultsStore(db, readonly=True)
    try:
        assert len(st.metrics()) == N_CONFIGS
        assert st.n_items() == N_CONFIGS * 6  # nothing lost, nothing duplicated
        # no shard lease left (a run's own lease, config_key '', stays with a runner that never
        # finished - stopped, killed - until a later start on this machine clears it: 5edc658)
        assert st.db.execute("SELECT count(*) FROM leases WHERE config_key != ''"
                             ).fetchone()[0] == 0
    finally:
        st.close()


def test_two_runners_share_the_work_each_shard_once(tmp_path, bundled_librispeech):
    spec = make_spec(tmp_path, bundled_librispeech, delay_s=0.08)
    db = tmp_path / "shared.db"
    procs = [runner(spec, db, lease_s=30) for _ in range(2)]
    outs = [p.communicate(timeout=200) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    ends = Counter((k, s) for what, _, k, s in ledger(tmp_path) if what == "end")
    starts = Counter((k, s) for what, _, k, s in ledger(tmp_path) if what == "start")
    assert len(ends) == N_CONFIGS * N_SHARDS and set(ends.values()) == {1}  # each exactly once
    assert starts == ends
    pids = {pid for what, pid, _, _ in ledger(tmp_path) if what == "end"}
    assert len(pids) == 2  # both runners did part of it
    check_complete(db)


def test_a_stopped_runners_lease_expires_and_its_shard_is_taken_over(tmp_path,
                                                                       bundled_librispeech):
    marker = tmp_path / "hung"
    spec = make_spec(tmp_path, bundled_librispeech, hang_marker=str(marker))
    db = tmp_path / "shared.db"
    a = runner(spec, db, lease_s=3)
    try:
        deadline = time.time() + 120
        while not marker.exists() and time.time() < deadline and a.poll() is None:
            time.sleep(0.05)
        assert marker.exists(), a.communicate()[1][-3000:]
        time.sleep(0.5)
        a.send_signal(signal.SIGSTOP)  # alive (not released at start) but no longer renewing
        b = runner(spec, db, lease_s=3)
        out, err = b.communicate(timeout=200)
        assert b.returncode == 0, err[-3000:]
    finally:
        a.send_signal(signal.SIGKILL)
        a.wait()
        a.stdout.close()
        a.stderr.close()
    key, sid = marker.read_text().split()
    rows = ledger(tmp_path)
    starts = [pid for what, pid, k, s in rows if what == "start" and (k, s) == (key, sid)]
    ends = [pid for what, pid, k, s in rows if what == "end" and (k, s) == (key, sid)]
    assert len(starts) == 2 and ends == [starts[1]] and starts[0] == str(a.pid)
    assert Counter((k, s) for what, _, k, s in rows if what == "end").most_common(1)[0][1] == 1
    check_complete(db)


def test_a_killed_runners_lease_is_released_at_once(tmp_path, bundled_librispeech):
    marker = tmp_path / "hung"
    spec = make_spec(tmp_path, bundled_librispeech, hang_marker=str(marker))
    db = tmp_path / "shared.db"
    a = runner(spec, db, lease_s=600)
    deadline = time.time() + 120
    while not marker.exists() and time.time() < deadline and a.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), a.communicate()[1][-3000:]
    a.send_signal(signal.SIGKILL)
    a.communicate()
    t0 = time.time()
    b = runner(spec, db, lease_s=600)
    out, err = b.communicate(timeout=200)
    assert b.returncode == 0, err[-3000:]
    assert time.time() - t0 < 120  # did not wait for the 600 s lease
    check_complete(db)
    st = ResultsStore(db, readonly=True)
    assert [r["status"] for r in st.runs()] == ["killed", "finished"]
    st.close()
