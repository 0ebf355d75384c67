"""The Ray executor on a local Ray (num_cpus=2): same metrics as the local executor, and a sweep
whose Ray worker process is SIGKILLed mid-task still completes. Real AsrTask, tiny.en."""
from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time

import pytest

from speechbudget.sweep import ResultsStore, run_sweep
from speechbudget.sweep.ray_executor import RayExecutor

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}})
    yield
    ray.shutdown()


def test_ray_gives_the_same_metrics_as_local(local_ray, asr_spec, asr_baseline, asr_comparable,
                                             tmp_path):
    s = run_sweep(asr_spec, tmp_path / "ray.db", executor="ray", workers=2, progress=False,
                  device="cpu")
    assert s.finished == 3 and s.failed == 0
    assert ResultsStore(tmp_path / "ray.db").environment(s.run_id)["executor"] == "ray"
    assert asr_comparable(tmp_path / "ray.db") == asr_comparable(asr_baseline[0])


def test_killed_ray_worker_is_retried_and_the_sweep_completes(local_ray, asr_spec, asr_baseline,
                                                              asr_comparable, tmp_path):
    db = tmp_path / "ray_kill.db"
    ex = RayExecutor(workers=2, device="cpu", max_retries=2)
    out: dict = {}
    t = threading.Thread(target=lambda: out.setdefault(
        "summary", run_sweep(asr_spec, db, executor=ex, progress=False, device="cpu")))
    t.start()
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and done < 1:  # wait for work under way on both workers
        time.sleep(0.1)
        if db.exists() and len(ex.worker_pids) == 2:
            try:
                con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                done = con.execute("SELECT count(*) FROM shards").fetchone()[0]
                con.close()
            except sqlite3.OperationalError:
                pass
    assert done >= 1, "no shard finished in time"
    victim = ex.worker_pids[0]
    os.kill(victim, signal.SIGKILL)  # the actor is busy with its queue: killed mid-task
    t.join(300)
    assert not t.is_alive()
    s = out["summary"]
    assert s.finished == 3 and s.failed == 0, s.failures
    assert asr_comparable(db) == asr_comparable(asr_baseline[0])


def test_ray_unit_timeout_kills_the_actor_and_the_sweep_goes_on(local_ray, write_spec,
                                                                tmp_path):
    """--unit-timeout with Ray: the actor running a unit past the limit is killed, the unit
    recorded failed ('unit timed out'), a fresh actor runs the rest."""
    from pathlib import Path
    here = Path(__file__).resolve().parent
    spec = write_spec("r", runner=f"{here / 'flaky_task.py'}:SlowTask",
                      models=["tiny.en", "base.en"], axes={"window": [30, 10]}, plan="grid",
                      task_options={"n_items": 4, "batch_size": 2, "slow_models": ["base.en"]})
    db = tmp_path / "ray_timeout.db"
    s = run_sweep(spec, db, executor="ray", workers=1, progress=False, allow_runner=True,
                  unit_timeout_s=3)
    assert s.finished == 2 and s.failed == 2
    assert all(label.startswith("base.en") and why.startswith("unit timed out after 3 s")
               for label, why in s.failures.items())
