"""Process workers exit when their driver is killed (kill -9 of `sweep run --executor
process`). They did not: the pool's workers waited for work forever, each with its task (a
model) loaded, beside the run that resumed the sweep (shown by: kill -9 of the driver, then ps:
both workers and the resource tracker still there 30 s later, 228 MB each with the test
double). Each worker now watches its parent and exits once it is gone."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sweep.conftest import FAKE_RUNNER

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for whoever adopted it to reap it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _wait(cond, limit_s: float) -> bool:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def test_workers_exit_when_the_driver_is_killed(write_spec, tmp_path):
    logs = tmp_path / "pids"
    logs.mkdir()
    spec = write_spec("p", runner=FAKE_RUNNER, plan="grid",
                      task_options={"n_items": 20, "batch_size": 1, "delay_s": 0.2,
                                    "log_dir": str(logs)})
    cmd = [sys.executable, "-c", "from speechbudget.cli import main; main()", "sweep", "run",
           str(spec), str(tmp_path / "p.db"), "--allow-runner", "--no-progress",
           "--executor", "process", "--workers", "2"]
    driver = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        assert _wait(lambda: len(list(logs.glob("*.pid"))) >= 2, 120), "no worker started"
        workers = [int(p.stem) for p in logs.glob("*.pid")]
        assert all(_alive(w) for w in workers) and driver.poll() is None
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        assert _wait(lambda: not any(_alive(w) for w in workers), 30), \
            f"workers {[w for w in workers if _alive(w)]} outlived their driver"
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        for w in workers:        # (only when the test failed: the workers this test started)
            if _alive(w):
                os.kill(w, signal.SIGKILL)
