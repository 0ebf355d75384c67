"""The worker side of a sweep: build the task from its TaskRef, keep it, its dataset and the reuse
cache for the life of the process (WorkerState), and run one unit, a task's error becoming the
unit's failure. `init_worker` and `run_in_worker` are what a process-pool worker runs."""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from speechbudget.axes import Config
from speechbudget.sweep.cache import DEFAULT_MAX_BYTES, ReuseCache
from speechbudget.sweep.work_units import TaskRef, UnitResult
from speechbudget.tasks.base import Shard


def build_task(ref: TaskRef) -> Any:
    opts = json.loads(ref.options)
    if ref.runner:
        target, _, cls_name = ref.runner.rpartition(":")
        if target.endswith(".py"):
            path = Path(target)
            if not path.is_file():
                raise FileNotFoundError(f"runner {ref.runner!r}: {path} does not exist")
            import hashlib
            import sys
            mod_name = "_speechbudget_runner_" + hashlib.sha1(
                str(path.resolve()).encode()).hexdigest()[:12]
            module = sys.modules.get(mod_name)
            if module is None:
                spec = importlib.util.spec_from_file_location(mod_name, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[mod_name] = module
                spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
        try:
            cls = getattr(module, cls_name)
        except AttributeError:
            raise AttributeError(f"runner {ref.runner!r}: no {cls_name} in {target}") from None
        return cls(**opts)
    from speechbudget.tasks import get_task
    return get_task(ref.task, **opts)


class WorkerState:
    """Per-process state: the task, its dataset and the reuse cache, built once."""

    def __init__(self, cache_bytes: int = DEFAULT_MAX_BYTES):
        self.cache = ReuseCache(cache_bytes)
        self._tasks: dict[TaskRef, tuple[Any, Any]] = {}

    def task_and_data(self, ref: TaskRef) -> tuple[Any, Any]:
        if ref not in self._tasks:
            task = build_task(ref)
            self._tasks[ref] = (task, task.load_dataset(ref.data, **json.loads(ref.data_options)))
        return self._tasks[ref]

    def run(self, ref: TaskRef, config: Config, shard: Shard, device: str) -> UnitResult:
        t0 = time.perf_counter()
        try:
            task, dataset = self.task_and_data(ref)
            results = list(task.run_shard(config, dataset, shard, device, cache=self.cache))
            return UnitResult(config.key, shard.shard_id, results,
                              seconds=time.perf_counter() - t0, worker=str(os.getpid()))
        except Exception as e:  # the task's failure is data for the store, not a crash
            reason = f"{type(e).__name__}: {e}"
            tb = traceback.format_exc(limit=4)
            return UnitResult(config.key, shard.shard_id, None, error=f"{reason}\n{tb}",
                              seconds=time.perf_counter() - t0, worker=str(os.getpid()))


_STATE: WorkerState | None = None


def exit_with_parent(parent: int, every_s: float = 1.0) -> None:
    """Exit this process (status 1) as soon as process `parent` is no longer its parent: the
    driver died (kill -9) without closing its pool, and the worker would otherwise wait for
    work forever, holding its model's memory. A daemon thread checks every `every_s`."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)
    threading.Thread(target=watch, name="speechbudget-parent-watch", daemon=True).start()


def init_worker(threads: int, cache_bytes: int, parent: int | None = None) -> None:
    """A pool worker's initializer: its torch threads and this process's WorkerState."""
    global _STATE
    if parent is not None:
        exit_with_parent(parent)
    import torch
    torch.set_num_threads(max(1, threads))
    _STATE = WorkerState(cache_bytes)


def run_in_worker(ref: TaskRef, config_json: str, shard: Shard, device: str) -> UnitResult:
    """One unit in a pool worker set up by `init_worker`."""
    assert _STATE is not None, "worker not initialised"
    return _STATE.run(ref, Config.from_json(config_json), shard, device)


def threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))
