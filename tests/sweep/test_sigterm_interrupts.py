"""`kill PID` (SIGTERM) of a running `sweep run` left its run marked 'running' in the store (only
Ctrl-C closed it, as 'interrupted'; `runs list` could only guess 'running?' from the dead pid).
SIGTERM now ends the run as Ctrl-C does: 'interrupted', finished shards kept, exit 130."""
from __future__ import annotations

import os
import sys

from speechbudget.sweep import ResultsStore
from tests.sweep.conftest import sigterm_after_first_shard


def test_sigterm_closes_the_run_as_interrupted(write_spec, tmp_path):
    spec = write_spec(axes={"window": [30, 10]}, models=["tiny.en"],
                      task_options={"n_items": 6, "batch_size": 1, "delay_s": 0.5})
    db = tmp_path / "r.db"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    code, out = sigterm_after_first_shard(
        [sys.executable, "-m", "speechbudget.cli", "sweep", "run", str(spec), str(db),
         "--allow-runner", "--no-progress", "--device", "cpu"], db, env)
    assert code == 130, out
    with ResultsStore(db, readonly=True) as st:
        assert [r["status"] for r in st.runs()] == ["interrupted"]
        assert st.n_items() > 0
