"""SIGKILL a running `speechbudget sweep run` three times at random (seeded) moments, resume
each time: the final store equals an uninterrupted run's, no item lost or duplicated.
Real AsrTask, bundled tiny.en, 4 short bundled utterances."""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from speechbudget.sweep import ResultsStore, run_sweep

pytestmark = pytest.mark.slow
TOTAL_SHARDS = 3 * 4


def done_shards(db) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM shards WHERE status = 'done'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def test_sigkill_three_times_then_resume_equals_uninterrupted(asr_spec, asr_baseline,
                                                             asr_comparable, tmp_path):
    rng = random.Random(1234)
    db = tmp_path / "killed.db"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-c", "from speechbudget.cli import main; main()", "sweep", "run",
           str(asr_spec), "--store", str(db), "--no-progress", "--device", "cpu"]
    seen = []
    for _ in range(3):
        before = done_shards(db)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        target = before + rng.choice([1, 2])  # a random moment: after 1 or 2 more shards, ...
        deadline = time.time() + 120
        while done_shards(db) < target and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.25))  # ... and a random part of the next one
        assert proc.poll() is None, f"sweep ended before the kill: {proc.stderr.read()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        seen.append(done_shards(db))
    assert seen == sorted(seen) and 0 < seen[-1] < TOTAL_SHARDS  # progress, and work left over
    s = run_sweep(asr_spec, db, progress=False, device="cpu")
    assert s.shards_skipped == seen[-1] and s.shards_run == TOTAL_SHARDS - seen[-1]
    st = ResultsStore(db, readonly=True)
    runs = st.runs()
    assert [r["status"] for r in runs] == ["killed"] * 3 + ["finished"]  # 3 killed mid-run
    assert st.n_items() == 3 * 4  # nothing lost, nothing duplicated
    st.close()
    assert asr_comparable(db) == asr_comparable(asr_baseline[0])
