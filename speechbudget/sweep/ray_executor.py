"""The Ray executor: one Ray actor per worker (`num_cpus` each), on a cluster at `address` or a
local Ray, each holding a WorkerState (its task, dataset and reuse cache) from one `run` to the
next. The queues and the submit loop are scheduling.py's, as for the process executor."""
from __future__ import annotations

import os
from collections import deque
from typing import Any, Iterable, Iterator

from speechbudget.axes import Config
from speechbudget.sweep.scheduling import Executor, assign_bundles
from speechbudget.sweep.work_units import TaskRef, UnitResult, WorkUnit
from speechbudget.sweep.worker import WorkerState
from speechbudget.tasks.base import Shard


class RayExecutor(Executor):
    """Ray actors (one per worker, `num_cpus` each), on a cluster at `address` or a local Ray.
    Each actor owns one queue of bundles; a killed actor is restarted by Ray and the unit it was
    running is retried (`max_retries`), then recorded as failed. The actors stay up from one
    `run` to the next (models loaded, caches warm) until `close`."""

    name = "ray"

    def __init__(self, workers: int = 2, device: str = "cpu", address: str | None = None,
                 num_cpus: float = 1.0, num_gpus: float | None = None, **kw: Any):
        super().__init__(workers=workers, device=device, **kw)
        self.address = address
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.worker_pids: list[int] = []
        self._actors: list[Any] = []
        self._worker_class: Any = None
        self._started_ray = False

    def _start(self) -> None:
        import ray
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     ignore_reinit_error=True,
                     **({} if self.address else {"num_cpus": max(self.workers, 1)}))
            self._started_ray = True

    def _new_actor(self) -> Any:
        return self._worker_class.remote(max(1, int(self.num_cpus)), self.cache_bytes)

    def _actors_for(self, n: int) -> list[Any]:
        """At least `n` actors, those of earlier runs first (started on the first call)."""
        import ray
        if self._worker_class is None:
            self._start()
            num_gpus = self.num_gpus
            if num_gpus is None:  # cuda: one GPU per actor, or a share when there are fewer GPUs
                num_gpus = 0.0
                if self.device.startswith("cuda"):
                    gpus = ray.cluster_resources().get("GPU", 0)
                    if gpus <= 0:
                        raise ValueError(f"device {self.device!r}, but the Ray cluster "
                                         f"({self.address or 'local'}) has no GPU")
                    num_gpus = 1.0 if gpus >= self.workers else gpus / self.workers
            self._worker_class = ray.remote(_RayWorker).options(
                num_cpus=self.num_cpus, num_gpus=num_gpus, max_restarts=self.max_retries,
                max_task_retries=self.max_retries)
        while len(self._actors) < n:
            self._actors.append(self._new_actor())
        self.worker_pids = ray.get([a.pid.remote() for a in self._actors])
        return self._actors

    def run(self, ref, units, cost=lambda u: 1.0, skip=frozenset(), claim=None):
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        queues = [deque(q) for q in assign_bundles(units, self.workers, cost) if q]
        actors = self._actors_for(len(queues))

        def start(i: int, u: WorkUnit) -> Any:
            return actors[i].run.remote(ref, u.config.to_json(), u.shard, self.device)

        def wait_some(running: list[Any], timeout: float | None) -> Iterable[Any]:
            return ray.wait(running, num_returns=1, timeout=timeout)[0]

        def expire(f: Any, i: int, u: WorkUnit) -> None:
            """The unit ran past the limit: kill its actor, a fresh one takes the queue."""
            ray.kill(actors[i], no_restart=True)
            actors[i] = self._new_actor()
            ray.get(actors[i].pid.remote())   # started before its first unit's clock runs

        def outcome(f: Any, i: int, u: WorkUnit) -> Iterator[UnitResult]:
            try:
                yield ray.get(f)
            except (RayActorError, RayTaskError) as e:
                yield UnitResult(u.config.key, u.shard.shard_id, None,
                                 error=f"Ray worker failed after {self.max_retries} retries: "
                                       f"{type(e).__name__}: {str(e).splitlines()[0][:300]}",
                                 crashed=True, attempts=self.max_retries + 1)
                if isinstance(e, RayActorError):  # restarts exhausted: a fresh actor
                    actors[i] = self._new_actor()

        yield from self.drive(queues, skip, start, wait_some, outcome, claim, expire)

    def close(self) -> None:
        try:
            import ray
            for a in self._actors:
                ray.kill(a, no_restart=True)
        except Exception:  # noqa: BLE001 (best effort at shutdown)
            pass
        self._actors = []
        self._worker_class = None
        if self._started_ray:
            import ray
            ray.shutdown()
            self._started_ray = False


class _RayWorker:
    """The Ray actor: a WorkerState in a long-lived worker process."""

    def __init__(self, threads: int, cache_bytes: int):
        import torch
        torch.set_num_threads(threads)
        self.state = WorkerState(cache_bytes)

    def pid(self) -> int:
        return os.getpid()

    def run(self, ref: TaskRef, config_json: str, shard: Shard, device: str) -> UnitResult:
        return self.state.run(ref, Config.from_json(config_json), shard, device)
