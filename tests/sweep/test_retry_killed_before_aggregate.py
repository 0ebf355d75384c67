"""`sweep run --retry-failed` killed after it stored a retried item and before it aggregated the
configuration again left the old metrics (with the failed item) in the store, and no later run
corrected them: every shard was done and the configuration had metrics, so a resume neither ran
nor aggregated anything (shown by: a sweep with one failed item, `sweep run --retry-failed`
SIGKILLed in the task's aggregate, then `sweep run --retry-failed` and `sweep run`: n_failed 1
while every stored item was ok). Replacing a failed item now deletes the configuration's metrics
in the same transaction, so the next run aggregates its items again."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from speechbudget.sweep import ResultsStore, run_sweep
from tests.sweep.conftest import HERE

RUNNER = f"{HERE / 'flaky_task.py'}:KilledAggregateItemsTask"
SPACE = {"models": ["tiny.en"], "axes": {"window": [30, 10]}, "plan": "grid",
         "task_options": {"n_items": 6, "batch_size": 2}}


def _state(db):
    with ResultsStore(db, readonly=True) as st:
        metrics = {c.key: (m.n_items, m.n_failed, m.value, m.gflops) for c, m in st.metrics()}
        items = {c["key"]: sorted((r.item_id, r.ok, r.errors) for r in st.items(c["key"]))
                 for c in st.configs()}
    return metrics, items


def test_a_retry_killed_before_aggregating_is_aggregated_on_resume(write_spec, tmp_path,
                                                                   monkeypatch):
    spec = write_spec("s", runner=RUNNER, **SPACE)
    clean, db = tmp_path / "clean.db", tmp_path / "s.db"
    run_sweep(spec, clean, progress=False, allow_runner=True)
    want = _state(clean)
    first_item = _state(clean)[1][next(iter(want[1]))][0][0]
    monkeypatch.setenv("FLAKY_FAIL_ITEMS", first_item)
    run_sweep(spec, db, progress=False, allow_runner=True)
    assert all(n_failed == 1 for _, n_failed, *_ in _state(db)[0].values())
    monkeypatch.setenv("FLAKY_FAIL_ITEMS", "")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KILL_IN_AGGREGATE": "1"}
    p = subprocess.run([sys.executable, "-c", "from speechbudget.cli import main; main()",
                        "sweep", "run", str(spec), str(db), "--allow-runner", "--no-progress",
                        "--retry-failed"], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == -signal.SIGKILL, p.stderr
    metrics, items = _state(db)
    # killed in the first configuration's aggregation: its item is stored (ok), and it has no
    # metrics that disagree with it; the other was not retried yet (its old metrics are its)
    retried = [k for k in items if items[k] == want[1][k]]
    assert len(retried) == 1 and retried[0] not in metrics
    assert all(n_failed == 1 for _, n_failed, *_ in metrics.values())
    plain = run_sweep(spec, db, progress=False, allow_runner=True)   # a plain resume
    assert plain.shards_run == 0 and plain.finished == 2
    metrics, _ = _state(db)
    assert metrics[retried[0]] == want[0][retried[0]]
    again = run_sweep(spec, db, progress=False, allow_runner=True, retry_items=True)
    assert again.shards_run == 1 and again.failed == 0
    assert _state(db) == want
