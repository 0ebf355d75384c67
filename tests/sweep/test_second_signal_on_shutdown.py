"""A second Ctrl-C or SIGTERM while an interrupted `sweep run` recorded its end raised inside
that recording and left the run marked 'running' in the store. The second signal is sent from
inside the recording (the store's finish_run, wrapped in the child process), so it arrives
there every time; the run must still end 'interrupted', finished shards kept, exit 130."""
from __future__ import annotations

import os
import signal
import sys

import pytest

from speechbudget.sweep import ResultsStore
from tests.sweep.conftest import sigterm_after_first_shard

CHILD = """
import os, signal, sys
from speechbudget.sweep import ResultsStore
from tests.sweep.conftest import sigterm_after_first_shard
finish_run = ResultsStore.finish_run
def finish_run_signalled(self, *args, **kwargs):  # the second signal, during the shutdown
    os.kill(os.getpid(), int(os.environ["SECOND_SIGNAL"]))
    return finish_run(self, *args, **kwargs)
ResultsStore.finish_run = finish_run_signalled
from speechbudget.cli import main
sys.argv = ["speechbudget"] + sys.argv[1:]
main()
"""


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_during_shutdown_still_records_interrupted(write_spec, tmp_path, second):
    spec = write_spec(axes={"window": [30, 10]}, models=["tiny.en"],
                      task_options={"n_items": 6, "batch_size": 1, "delay_s": 0.5})
    db = tmp_path / "r.db"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SECOND_SIGNAL": str(int(second))}
    code, out = sigterm_after_first_shard(
        [sys.executable, "-c", CHILD, "sweep", "run", str(spec), str(db), "--allow-runner",
         "--no-progress", "--device", "cpu"], db, env)
    assert code == 130, out
    with ResultsStore(db, readonly=True) as st:
        assert [r["status"] for r in st.runs()] == ["interrupted"], out
        assert st.n_items() > 0
