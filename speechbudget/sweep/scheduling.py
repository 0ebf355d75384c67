"""How an executor schedules work units: the Executor interface, the split of units into one
queue per worker keeping each bundle whole (`assign_bundles`), and the submit loop the pool
executors share (`drive_queues`: one unit in flight per queue, skips, shard claims, the unit time
limit)."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Container, Iterable, Iterator, Sequence

from speechbudget.sweep.cache import DEFAULT_MAX_BYTES
from speechbudget.sweep.work_units import TaskRef, UnitResult, WorkUnit, timeout_reason


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

    def drive(self, queues: list[deque[WorkUnit]], skip: Container[str],
              start: Callable[[int, WorkUnit], Any],
              wait_some: Callable[[list[Any], float | None], Iterable[Any]],
              outcome: Callable[[Any, int, WorkUnit], Iterator[UnitResult]],
              claim: Claim | None, expire: Callable[[Any, int, WorkUnit], None]
              ) -> Iterator[UnitResult]:
        """`drive_queues` with this executor's unit timeout; a run abandoned (an error, Ctrl-C,
        the caller stopping) closes the executor, so nothing keeps running in the background."""
        done = False
        try:
            yield from drive_queues(queues, skip, start, wait_some, outcome, claim,
                                    self.unit_timeout_s, expire)
            done = True
        finally:
            if not done:
                self.close()
