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
