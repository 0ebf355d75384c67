"""Where work units (one configuration x one shard) run: in-process, a process pool, or Ray.

Every executor gets the units already ordered for reuse and grouped into *bundles* (all the
configurations of one reuse group for one shard); a bundle always runs on one worker, in order,
so that worker's cache holds the shard's log-mel features and encoder outputs while the related
configurations run. Results go back to the driver, which alone writes the store.

A unit whose task raises is a failure of that configuration (recorded with the reason, never
retried in the same run). A worker that dies (killed, out of memory) has its units retried up to
`max_retries` times, then they are recorded as failed. Pool workers (process, Ray) stay up
from one `run` call to the next - racing rounds, adaptive batches - with their models loaded
and caches warm, until the driver calls `close`. A process worker whose driver dies without
closing it (kill -9) exits within about a second (`exit_with_parent`) rather than waiting
forever with its model loaded, in the way of the run that resumes the sweep.

`unit_timeout_s` (`sweep run --unit-timeout`): a unit that runs longer is recorded as failed
("unit timed out after N s") and the sweep goes on; the time counts from the unit's start and
includes what it loads (a model on its first unit, a pool worker's start). process and Ray kill
the worker running it (a new one takes its queue, cold) at once. local runs units in this
process: a SIGALRM timer raises `UnitTimeout` in the task, which takes effect at the next Python
step (a single long native call, one huge matmul, finishes first); the task, its dataset and
the reuse cache are then built afresh, so nothing the interrupted unit half-built is used
again. It needs the main thread of a POSIX process with no other interval timer running, and is
refused (ValueError) otherwise.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import signal
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Container, Iterable, Iterator, Sequence

from speechbudget.axes import Config
from speechbudget.records import ItemResult
from speechbudget.sweep.cache import DEFAULT_MAX_BYTES, ReuseCache
from speechbudget.tasks.base import Shard

EXECUTORS = ("local", "process", "ray")


@dataclass(frozen=True)
class TaskRef:
    """Enough to build the task and its dataset again in any process."""

    task: str                       # "asr" | "ser"
    options: str = "{}"             # JSON of the task options
    data: str | None = None
    runner: str | None = None       # "module:Class" or "/path/file.py:Class"


@dataclass
class WorkUnit:
    config: Config
    shard: Shard
    bundle: int = 0                 # units of one bundle run on one worker, in order


@dataclass
class UnitResult:
    config_key: str
    shard_id: str
    results: list[ItemResult] | None
    error: str | None = None        # the task raised (configuration failure)
    crashed: bool = False           # the worker died; retries exhausted
    seconds: float = 0.0
    attempts: int = 1
    worker: str = ""


class UnitTimeout(BaseException):
    """Raised inside a unit that ran past its time limit (the local executor). A BaseException,
    as KeyboardInterrupt, so that a task's `except Exception` (which turns errors into failed
    items) does not swallow it."""


def timeout_reason(seconds: float) -> str:
    return f"unit timed out after {seconds:g} s (--unit-timeout)"


def check_unit_timeout(seconds: float | None) -> float | None:
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"unit_timeout_s={seconds!r}: expected seconds > 0 (--unit-timeout)")
    return float(seconds)


# ---- worker side ------------------------------------------------------------------------------
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
            self._tasks[ref] = (task, task.load_dataset(ref.data))
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


def _init_worker(threads: int, cache_bytes: int, parent: int | None = None) -> None:
    global _STATE
    if parent is not None:
        exit_with_parent(parent)
    import torch
    torch.set_num_threads(max(1, threads))
    _STATE = WorkerState(cache_bytes)


def _run_in_worker(ref: TaskRef, config_json: str, shard: Shard, device: str) -> UnitResult:
    assert _STATE is not None, "worker not initialised"
    return _STATE.run(ref, Config.from_json(config_json), shard, device)


def threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def assign_bundles(units: Sequence[WorkUnit], workers: int,
                   cost: Callable[[WorkUnit], float] = lambda u: 1.0) -> list[list[WorkUnit]]:
    """Split units over workers, keeping each bundle whole and in order, balancing cost."""
    bundles: dict[int, list[WorkUnit]] = {}
    for u in units:
        bundles.setdefault(u.bundle, []).append(u)
    queues: list[list[WorkUnit]] = [[] for _ in range(max(1, workers))]
    load = [0.0] * len(queues)
    for b in bundles.values():  # already in reuse order; greedy least-loaded keeps order per queue
        i = min(range(len(queues)), key=lambda j: load[j])
        queues[i].extend(b)
        load[i] += sum(cost(u) for u in b)
    return queues


Claim = Callable[[WorkUnit], bool]


def admitted(u: WorkUnit, skip: Container[str], claim: Claim | None) -> bool:
    """A unit is started only when its configuration is not skipped and, where the driver
    claims shards (a lease in the store), the claim succeeds."""
    return u.config.key not in skip and (claim is None or claim(u))


def drive_queues(queues: list[deque[WorkUnit]], skip: Container[str],
                 start: Callable[[int, WorkUnit], Any],
                 wait_some: Callable[[list[Any], float | None], Iterable[Any]],
                 outcome: Callable[[Any, int, WorkUnit], Iterator[UnitResult]],
                 claim: Claim | None = None, timeout_s: float | None = None,
                 expire: Callable[[Any, int, WorkUnit], None] | None = None
                 ) -> Iterator[UnitResult]:
    """The submit loop every pool executor shares: one unit in flight per worker queue (the
    queue order is the run order), units of skipped configurations never started. `start(i, u)`
    starts a unit on worker i and returns a handle; `wait_some(handles, timeout)` returns those
    done (waiting at most `timeout` seconds, None: until one is); `outcome(handle, i, u)` yields
    the unit's results (and may put it back on queue i). With `timeout_s`, a unit running
    longer is given up: `expire(handle, i, u)` stops its worker and it is yielded as failed."""
    running: dict[Any, tuple[int, WorkUnit]] = {}
    started: dict[Any, float] = {}

    def submit(i: int) -> None:
        while queues[i]:
            u = queues[i].popleft()
            if not admitted(u, skip, claim):
                continue
            h = start(i, u)
            running[h] = (i, u)
            started[h] = time.monotonic()
            return

    for i in range(len(queues)):
        submit(i)
    while running:
        wait = None
        if timeout_s is not None:
            wait = max(0.0, min(started[h] for h in running) + timeout_s - time.monotonic())
        for h in wait_some(list(running), wait):
            i, u = running.pop(h)
            started.pop(h)
            yield from outcome(h, i, u)
            submit(i)
        if timeout_s is None:
            continue
        now = time.monotonic()
        for h in [h for h in running if now - started[h] >= timeout_s]:
            i, u = running.pop(h)
            t0 = started.pop(h)
            expire(h, i, u)
            yield UnitResult(u.config.key, u.shard.shard_id, None,
                             error=timeout_reason(timeout_s), seconds=now - t0)
            submit(i)


# ---- executors --------------------------------------------------------------------------------
@dataclass
class Executor:
    workers: int = 1
    device: str = "cpu"
    max_retries: int = 2
    cache_bytes: int = DEFAULT_MAX_BYTES
    unit_timeout_s: float | None = None    # a unit running longer is recorded as failed

    name = "base"

    def run(self, ref: TaskRef, units: Sequence[WorkUnit],
            cost: Callable[[WorkUnit], float] = lambda u: 1.0,
            skip: Container[str] = frozenset(), claim: Claim | None = None
            ) -> Iterator[UnitResult]:
        """Run `units`, yielding each result as it comes. `skip`: configuration keys whose
        units are not to be started any more; the caller (the driver) owns it and may add to it
        while the results come in. `claim(unit)`: asked just before a unit starts (the driver's
        shard lease); False leaves the unit to another runner."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class LocalExecutor(Executor):
    """In this process, one unit after another, with one cache."""

    name = "local"

    def __init__(self, device: str = "cpu", cache_bytes: int = DEFAULT_MAX_BYTES, **kw: Any):
        super().__init__(workers=1, device=device, cache_bytes=cache_bytes, **kw)
        self.unit_timeout_s = check_unit_timeout(self.unit_timeout_s)
        if self.unit_timeout_s is not None:
            self._check_alarm()
        self.state = WorkerState(cache_bytes)

    @staticmethod
    def _check_alarm() -> None:
        """The local executor's timeout is a SIGALRM timer: refused where it cannot work."""
        why = None
        if not hasattr(signal, "setitimer"):
            why = "this platform has no SIGALRM timer"
        elif threading.current_thread() is not threading.main_thread():
            why = "the sweep does not run in the main thread (signals reach only that one)"
        elif signal.getitimer(signal.ITIMER_REAL)[0] > 0:
            why = "another SIGALRM timer is running in this process"
        if why:
            raise ValueError(f"--unit-timeout with the local executor: {why}; use "
                             "--executor process (its workers are killed at the limit)")

    def run(self, ref, units, cost=lambda u: 1.0, skip=frozenset(), claim=None):
        for u in units:
            if not admitted(u, skip, claim):
                continue
            if self.unit_timeout_s is None:
                yield self.state.run(ref, u.config, u.shard, self.device)
            else:
                yield self._run_limited(ref, u)

    def _run_limited(self, ref: TaskRef, u: WorkUnit) -> UnitResult:
        """One unit under a SIGALRM timer of `unit_timeout_s` (module docstring)."""
        self._check_alarm()
        armed = [True]

        def on_alarm(signum: int, frame: Any) -> None:
            if armed[0]:
                armed[0] = False
                raise UnitTimeout()
        t0 = time.perf_counter()
        previous = signal.signal(signal.SIGALRM, on_alarm)
        try:
            try:
                signal.setitimer(signal.ITIMER_REAL, self.unit_timeout_s)
                return self.state.run(ref, u.config, u.shard, self.device)
            finally:
                armed[0] = False
                signal.setitimer(signal.ITIMER_REAL, 0)
        except UnitTimeout:
            # whatever the unit was building (a model, cache entries) may be half done: start
            # from a fresh task, dataset and cache
            self.state = WorkerState(self.cache_bytes)
            return UnitResult(u.config.key, u.shard.shard_id, None,
                              error=timeout_reason(self.unit_timeout_s),
                              seconds=time.perf_counter() - t0, worker=str(os.getpid()))
        finally:
            signal.signal(signal.SIGALRM, previous)


class ProcessExecutor(Executor):
    """A pool of worker processes; each owns one queue of bundles (so its cache is reused).
    A worker that dies is replaced and its unfinished units are retried. The workers (their
    loaded models, warm-ups and caches) stay up from one `run` to the next - a racing round or
    an adaptive batch does not start new processes - until `close`."""

    name = "process"

    def __init__(self, workers: int = 1, device: str = "cpu", max_retries: int = 2,
                 cache_bytes: int = DEFAULT_MAX_BYTES, unit_timeout_s: float | None = None):
        super().__init__(workers=workers, device=device, max_retries=max_retries,
                         cache_bytes=cache_bytes,
                         unit_timeout_s=check_unit_timeout(unit_timeout_s))
        self._pools: list[Any] = []     # one single-process pool per worker queue

    def _new_pool(self) -> Any:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        return ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"),
                                   initializer=_init_worker,
                                   initargs=(threads_per_worker(self.workers), self.cache_bytes,
                                             os.getpid()))

    def run(self, ref, units, cost=lambda u: 1.0, skip=frozenset(), claim=None):
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        queues = [deque(q) for q in assign_bundles(units, self.workers, cost) if q]
        pools = self._pools
        while len(pools) < len(queues):
            pools.append(self._new_pool())
        if self.unit_timeout_s is not None:  # a unit's clock does not count a worker's start
            self._ready(pools)
        attempts: dict[tuple[str, str], int] = {}

        def start(i: int, u: WorkUnit) -> Any:
            return pools[i].submit(_run_in_worker, ref, u.config.to_json(), u.shard, self.device)

        def wait_some(running: list[Any], timeout: float | None) -> Iterable[Any]:
            return wait(running, timeout=timeout, return_when=FIRST_COMPLETED)[0]

        def expire(f: Any, i: int, u: WorkUnit) -> None:
            """The unit ran past the limit: kill its worker, a new one takes the queue."""
            # (the pool's process table: concurrent.futures has no public way to stop a task)
            for p in list(getattr(pools[i], "_processes", None) or {}):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            pools[i].shutdown(wait=False, cancel_futures=True)
            pools[i] = self._new_pool()
            self._ready([pools[i]])

        def outcome(f: Any, i: int, u: WorkUnit) -> Iterator[UnitResult]:
            k = (u.config.key, u.shard.shard_id)
            attempts[k] = attempts.get(k, 0) + 1
            try:
                r = f.result()
                r.attempts = attempts[k]
                yield r
            except BrokenProcessPool as e:
                pools[i].shutdown(wait=False, cancel_futures=True)
                pools[i] = self._new_pool()
                if attempts[k] <= self.max_retries:
                    queues[i].appendleft(u)
                else:
                    yield UnitResult(u.config.key, u.shard.shard_id, None,
                                     error=f"worker process died {attempts[k]} times ({e})",
                                     crashed=True, attempts=attempts[k])

        done = False
        try:
            yield from drive_queues(queues, skip, start, wait_some, outcome, claim,
                                    self.unit_timeout_s, expire)
            done = True
        finally:
            if not done:   # abandoned (an error, Ctrl-C): nothing keeps running in the background
                self.close()

    @staticmethod
    def _ready(pools: Sequence[Any]) -> None:
        """Wait until each pool's worker process has started and run its initializer."""
        for f in [p.submit(os.getpid) for p in pools]:
            f.result()

    def close(self) -> None:
        for p in self._pools:
            p.shutdown(wait=True, cancel_futures=True)
        self._pools = []


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

        done = False
        try:
            yield from drive_queues(queues, skip, start, wait_some, outcome, claim,
                                    self.unit_timeout_s, expire)
            done = True
        finally:
            if not done:   # abandoned (an error, Ctrl-C): stop the actors' work
                self.close()

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


def make_executor(name: str | Executor, workers: int | None = None, device: str = "cpu",
                  address: str | None = None, max_retries: int = 2,
                  cache_bytes: int = DEFAULT_MAX_BYTES,
                  unit_timeout_s: float | None = None) -> Executor:
    if isinstance(name, Executor):
        if unit_timeout_s is not None:
            raise ValueError("unit_timeout_s: give it to the Executor you pass "
                             "(Executor(unit_timeout_s=...))")
        return name
    if name == "local":
        return LocalExecutor(device=device, cache_bytes=cache_bytes, max_retries=max_retries,
                             unit_timeout_s=unit_timeout_s)
    n = workers or max(1, min(4, os.cpu_count() or 1))
    if name == "process":
        return ProcessExecutor(workers=n, device=device, max_retries=max_retries,
                               cache_bytes=cache_bytes, unit_timeout_s=unit_timeout_s)
    if name == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ValueError("executor 'ray' needs Ray: pip install 'speechbudget[ray]'") from None
        return RayExecutor(workers=n, device=device, address=address, max_retries=max_retries,
                           cache_bytes=cache_bytes,
                           unit_timeout_s=check_unit_timeout(unit_timeout_s))
    raise ValueError(f"unknown executor {name!r}: expected one of {', '.join(EXECUTORS)}")
