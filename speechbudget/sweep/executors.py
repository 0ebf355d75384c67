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

This module: the local and process executors and `make_executor`. The rest: work_units.py (the
task reference, work units, their results, the time limit), worker.py (what a worker runs),
scheduling.py (the Executor interface, queues and the shared submit loop), ray_executor.py.
"""
from __future__ import annotations

import importlib.util
import os
import signal
import threading
import time
from collections import deque
from typing import Any, Iterable, Iterator, Sequence

from speechbudget.sweep.cache import DEFAULT_MAX_BYTES
from speechbudget.sweep.ray_executor import RayExecutor
from speechbudget.sweep.scheduling import Executor, admitted, assign_bundles
from speechbudget.sweep.work_units import (TaskRef, UnitResult, UnitTimeout, WorkUnit,
                                           check_unit_timeout, timeout_reason)
from speechbudget.sweep.worker import WorkerState, init_worker, run_in_worker, threads_per_worker

EXECUTORS = ("local", "process", "ray")


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
                                   initializer=init_worker,
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
            return pools[i].submit(run_in_worker, ref, u.config.to_json(), u.shard, self.device)

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

        yield from self.drive(queues, skip, start, wait_some, outcome, claim, expire)

    @staticmethod
    def _ready(pools: Sequence[Any]) -> None:
        """Wait until each pool's worker process has started and run its initializer."""
        for f in [p.submit(os.getpid) for p in pools]:
            f.result()

    def close(self) -> None:
        for p in self._pools:
            p.shutdown(wait=True, cancel_futures=True)
        self._pools = []


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
        if importlib.util.find_spec("ray") is None:  # installed? (imported on the first run)
            raise ValueError("executor 'ray' needs Ray: pip install 'speechbudget[ray]'")
        return RayExecutor(workers=n, device=device, address=address, max_retries=max_retries,
                           cache_bytes=cache_bytes,
                           unit_timeout_s=check_unit_timeout(unit_timeout_s))
    raise ValueError(f"unknown executor {name!r}: expected one of {', '.join(EXECUTORS)}")
