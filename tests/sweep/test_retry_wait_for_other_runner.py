"""Two runners with --retry-failed on one store: the one that claims a finished shard to run
its failed items again holds its lease while the shard stays 'done'. The other runner, finding
the shard 'done', took it as finished at once and aggregated the configuration from the items
still failed - its summary counted them failed (exit 1), and its metrics, written after the
first runner's merge, could replace the ones aggregated from the retried items. A shard under
another runner's unexpired lease is now waited for even when it is stored as done."""
from __future__ import annotations

import time
from pathlib import Path

from speechbudget.records import ItemResult
from speechbudget.sweep import ResultsStore, load_spec, run_sweep
from speechbudget.sweep import driver as driver_module
from speechbudget.sweep.driver import Sweep
from speechbudget.sweep.executors import make_executor
from speechbudget.sweep.plan import plan_configurations

HERE = Path(__file__).resolve().parent
SPACE = {"models": ["tiny.en"], "axes": {"window": [30]}, "plan": "grid",
         "runner": f"{HERE / 'flaky_task.py'}:FlakyItemsTask",
         "task_options": {"n_items": 6, "batch_size": 2}}


def test_a_shard_being_retried_by_another_runner_is_waited_for(write_spec, tmp_path,
                                                                monkeypatch):
    spec_path = write_spec("r", **SPACE)
    db = tmp_path / "r.db"
    ids = [sh.item_ids for sh in _shards(spec_path)]
    bad = ids[1][0]
    monkeypatch.setenv("FLAKY_FAIL_ITEMS", bad)
    run_sweep(spec_path, db, allow_runner=True)
    monkeypatch.delenv("FLAKY_FAIL_ITEMS")
    with ResultsStore(db) as st:
        (c, m), = st.metrics()
        (sid, failed), = st.failed_items(c.key).items()
        assert failed == {bad} and m.n_failed == 1
        # another runner has claimed that shard to run its failed item again
        st.claim_shard(c.key, sid, "other-runner", None, lease_s=3600, retry_items=True)

    def other_runner_finishes(_s):   # called while this runner waits: the other one merges
        with ResultsStore(db) as st:
            st.merge_retried_items(c.key, sid, [ItemResult(bad, True, prediction="p",
                                                           reference="ref", errors=0, n_ref=5,
                                                           audio_s=1.0, gflops=1.0,
                                                           timings={"t": 0.1})],
                                   None, owner="other-runner")
    from types import SimpleNamespace    # the driver's own `time` only (not subprocess's)
    fake_time = SimpleNamespace(**{n: getattr(time, n) for n in dir(time)
                                   if not n.startswith("_")})
    fake_time.sleep = other_runner_finishes
    monkeypatch.setattr(driver_module, "time", fake_time)
    spec = load_spec(spec_path)
    ex = make_executor("local", None, "cpu", None, 0)
    with ResultsStore(db) as st:
        sweep = Sweep(spec, st, ex, "cpu", progress=False, retry_failed=True, retry_items=True,
                      task=None)
        plan = plan_configurations(spec, audio_s=sweep.mean_audio_s)
        sweep.execute(plan.configs, plan.gflops)
        s = sweep.finish(plan.configs, "finished", time.perf_counter())
        (_, m), = s.metrics
        assert s.finished == 1 and s.failed == 0 and m.n_failed == 0
        assert [r.ok for r in st.items(c.key)] == [True] * 6
    ex.close()


def _shards(spec_path):
    import sys
    sys.path.insert(0, str(HERE))
    from fake_task import FakeTask
    s = load_spec(spec_path)
    t = FakeTask(**s.task_options)
    return t.shards(None, t.load_dataset(s.data))
