"""A TEST DOUBLE (tests/sweep/fake_task.py's FakeTask) whose models named in the environment
variable FLAKY_FAIL_MODELS (comma-separated) raise: set it on one run and not the next to model
a configuration that fails once and then works, with the task options (which the store checks
on resume) unchanged."""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_task import FakeTask  # noqa: E402


class FlakyTask(FakeTask):
    def run_shard(self, config, dataset, shard, device, cache=None):
        if config.model in os.environ.get("FLAKY_FAIL_MODELS", "").split(","):
            raise RuntimeError(f"flaky failure of {config.model} (test double)")
        return super().run_shard(config, dataset, shard, device, cache)


class FlakyAggregateTask(FlakyTask):
    """Its aggregate raises for the models named in FLAKY_AGGREGATE_FAIL_MODELS."""

    def aggregate(self, config, results):
        if config.model in os.environ.get("FLAKY_AGGREGATE_FAIL_MODELS", "").split(","):
            raise ValueError(f"cannot aggregate {config.model} (test double)")
        return super().aggregate(config, results)


class FlakyItemsTask(FakeTask):
    """Items named in FLAKY_FAIL_ITEMS (comma-separated ids) come back ok=False, as a task
    reports an unreadable file; FLAKY_LOG (a file) gets one line per item evaluated. Runs a
    shard of a subset of a shard's items (`item_subsets`), as AsrTask does."""

    item_subsets = True

    def run_shard(self, config, dataset, shard, device, cache=None):
        from speechbudget.records import ItemResult
        bad = set(os.environ.get("FLAKY_FAIL_ITEMS", "").split(","))
        log = os.environ.get("FLAKY_LOG")
        if log:
            with open(log, "a") as f:
                f.writelines(f"{config.key} {i}\n" for i in shard.item_ids)
        if os.environ.get("FLAKY_RAISE"):
            raise RuntimeError("flaky unit failure (test double)")
        out = super().run_shard(config, dataset, shard, device, cache)
        return [ItemResult(r.item_id, ok=False, reference=r.reference,
                           error=f"cannot read {r.item_id} (test double)")
                if r.item_id in bad else r for r in out]


class FlakyItemsWholeShardTask(FlakyItemsTask):
    """The same, for a task that only runs whole shards (as SerTask: a fold)."""

    item_subsets = False

    def run_shard(self, config, dataset, shard, device, cache=None):
        whole = {sh.shard_id: sh for sh in self.shards(config, dataset)}[shard.shard_id]
        if shard.item_ids != whole.item_ids:
            raise ValueError(f"shard {shard.shard_id}: not the task's shard (test double)")
        return super().run_shard(config, dataset, shard, device, cache)


class SlowTask(FakeTask):
    """Models named in SLOW_MODELS (or the task option slow_models, for workers that do not see
    this process's environment: Ray) take SLOW_S seconds (default 120) per shard; the wait sits
    inside an `except Exception` that turns errors into failed items, as AsrTask's batch does,
    so a timeout that such a handler swallows would show as items failed, not a unit."""

    def __init__(self, slow_models=(), **kw):
        super().__init__(**kw)
        self.slow_models = set(slow_models)

    def run_shard(self, config, dataset, shard, device, cache=None):
        from speechbudget.records import ItemResult
        if config.model in self.slow_models or \
                config.model in os.environ.get("SLOW_MODELS", "").split(","):
            import time
            try:
                end = time.monotonic() + float(os.environ.get("SLOW_S", "120"))
                while time.monotonic() < end:
                    time.sleep(0.05)
            except Exception as e:  # noqa: BLE001
                return [ItemResult(i, ok=False, error=f"batch failed: {e!r}")
                        for i in shard.item_ids]
        return super().run_shard(config, dataset, shard, device, cache)


class KilledAggregateItemsTask(FlakyItemsTask):
    """FlakyItemsTask whose process is killed (SIGKILL) when it aggregates, while the
    environment variable KILL_IN_AGGREGATE is set: a run killed between storing a shard's
    items and storing the configuration's metrics."""

    def aggregate(self, config, results):
        if os.environ.get("KILL_IN_AGGREGATE"):
            import signal
            os.kill(os.getpid(), signal.SIGKILL)
        return super().aggregate(config, results)


class FlakyItemsScoredTask(FlakyItemsTask):
    """FlakyItemsTask whose metrics count as the real tasks' do: n_items the items scored, the
    metric NaN when every item failed (tasks/asr/runner.py, tasks/ser/runner.py)."""

    def aggregate(self, config, results):
        m = super().aggregate(config, results)
        m.n_items = sum(1 for r in results if r.ok)
        if not m.n_items:
            m.value = float("nan")
        return m
