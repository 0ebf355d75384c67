"""The sweep driver: plans shards for configurations, dispatches work units to an executor,
commits each result to the store (the driver alone writes it) and aggregates finished
configurations. `run.run_sweep` (plans) and `adaptive.run_adaptive` (search) both drive it.
"""
from __future__ import annotations

import json
import os
import platform
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Sequence

from speechbudget.axes import Config
from speechbudget.errors import SpeechbudgetError
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.sweep.environment import environment
from speechbudget.sweep.scheduling import Executor
from speechbudget.sweep.work_units import TaskRef, UnitResult, WorkUnit
from speechbudget.sweep.worker import build_task
from speechbudget.sweep.profile import content_digests, item_audio, profile_dataset
from speechbudget.sweep.progress import Progress
from speechbudget.sweep.spec import SweepSpec
from speechbudget.sweep.store import ResultsStore
from speechbudget.sweep.store_leases import DEFAULT_LEASE_S
from speechbudget.tasks.base import Shard


@dataclass
class RunSummary:
    run_id: int
    store: Path
    configs: int = 0                 # configurations in this sweep
    finished: int = 0                # with metrics and an item scored (including reused ones)
    failed: int = 0                  # without metrics (`failures`) or none scored (`none_scored`)
    reused: int = 0                  # finished before this run started
    shards_run: int = 0              # shards computed in this run
    shards_skipped: int = 0          # shards found already done
    items_run: int = 0
    seconds: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)   # config label -> reason
    metrics: list[tuple[Config, ConfigMetrics]] = field(default_factory=list)
    evaluations: int = 0             # adaptive: configurations evaluated in all
    eliminated: dict[str, str] = field(default_factory=dict)  # racing: label -> evidence
    rounds: int = 0                  # racing: rounds run
    # racing: (round, label, label) -> why that pair could not be compared in that round (no
    # item both scored, or only items without reference words): neither stopped the other
    uncompared: dict[tuple, str] = field(default_factory=dict)
    # labels of configurations whose metrics hold no scored item (every item failed: unreadable
    # audio, say): counted in `failed`, not `finished`, though their metrics are stored
    none_scored: list[str] = field(default_factory=list)


def none_scored(m: ConfigMetrics) -> bool:
    """Metrics of a configuration every item of which failed (no item scored, the value NaN):
    the one rule by which the run's summary counts such a configuration as failed."""
    return bool(m.n_failed) and not m.n_items


def build_task_for(spec: SweepSpec, ref: TaskRef):
    """The spec's task, with what the spec got wrong as a SpecError naming the file and the key
    (exit 2): a runner that cannot be imported or has no such class, task options the task's
    constructor refuses (an unknown keyword, a value out of range)."""
    from speechbudget.sweep.spec import SpecError
    try:
        return build_task(ref)
    except (ImportError, SyntaxError) as e:
        if not spec.runner:
            raise
        raise SpecError("runner", f"{spec.runner}: cannot be imported ({type(e).__name__}: {e})",
                        spec.where("runner")) from None
    except AttributeError as e:
        if spec.runner and str(e).startswith(f"runner {spec.runner!r}"):
            raise SpecError("runner", str(e), spec.where("runner")) from None
        raise
    except (TypeError, ValueError) as e:
        if isinstance(e, SpeechbudgetError):
            raise
        # the option the message names, when it names exactly one of the spec's
        named = [k for k in spec.task_options if re.search(rf"(?<!\w){re.escape(k)}(?!\w)",
                                                           str(e))]
        key = f"task_options.{named[0]}" if len(named) == 1 else "task_options"
        raise SpecError(key, f"{e}", spec.where(key)) from None


def task_ref(spec: SweepSpec) -> TaskRef:
    """What builds the spec's task, here and in a worker (`worker.build_task`)."""
    return TaskRef(spec.task, json.dumps(spec.task_options, sort_keys=True), spec.data,
                   spec.runner, json.dumps(spec.data_options, sort_keys=True))


def result_version(task, config: Config) -> int:
    """The version of the rule by which `task` computes `config`'s items: the task's
    `result_version(config)` where it has one, else 1. A task raises it for the configurations
    whose results a change of its code alters (SER pool attn, stride > 1: 2 since 59db9fa), so
    that a store holding results of the older rule is not resumed into a mix of both (the
    store keeps it in the configuration's context: `ResultsStore.register_config`). Version 1
    is not written into the context, so stores from before versions existed stay usable
    wherever the rule did not change."""
    fn = getattr(task, "result_version", None)
    v = 1 if fn is None else fn(config)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise TypeError(f"{type(task).__name__}.result_version({config.label}) = {v!r}: "
                        "expected an integer >= 1")
    return v


def reuse_order(config: Config) -> tuple:
    """Sort key putting configurations that share work next to each other: features depend on
    the window (and mel bins), encoder outputs on everything up to the stride, the decoder last."""
    a = config.adaptation
    return (str(config.window), config.dynamic_margin_s, config.arch.dims.__dict__.get("n_mels", 0),
            config.model, config.precision, a.method, a.rank, a.unfreeze_top,
            config.stride_layer, config.stride, config.pool, config.beam_size)


def reuse_group(config: Config) -> tuple:
    """Configurations of one group share log-mel features (same window and mel bins)."""
    return reuse_order(config)[:3]


class Sweep:
    """The driver: plans shards, dispatches units, commits results, aggregates.

    Configurations that fail go into `self.skip`, which the executor reads (it never owns or
    changes it) to start no more of their units. Shards are claimed with a lease in the store
    just before they start (`self.claim`), so several runners on one store share the work; a
    lease is renewed while this runner lives, and a dead runner's lease expires.

    retry_items (`sweep run --retry-failed`): the items stored as failed (ok=False) in finished
    shards are run again. A task whose `item_subsets` attribute is True gets a shard of only
    those items (same shard id); any other task (SER: a fold trains on the rest of the dataset)
    gets the whole shard. Either way only failed items are replaced in the store
    (`ResultsStore.merge_retried_items`: an ok item is never overwritten) and the
    configuration's metrics are aggregated again from all its stored items.

    recompute_stale (`sweep run --recompute-stale`): a configuration whose stored results were
    computed by an older rule of its task (`result_version`) is discarded and run again;
    without it such a configuration stops the run with a StoreError that says so."""

    def __init__(self, spec: SweepSpec, store: ResultsStore, executor: Executor, device: str,
                 progress: bool, retry_failed: bool, lease_s: float = DEFAULT_LEASE_S,
                 retry_items: bool = False, recompute_stale: bool = False,
                 task=None, dataset=None):
        """task, dataset: the spec's task and its loaded dataset where the caller built them
        (`build_task_for`, `task.load_dataset`) before opening the store, so that a spec whose
        task refuses its options or data leaves no store behind; built here when not given."""
        self.spec, self.store, self.executor, self.device = spec, store, executor, device
        self.recompute_stale = recompute_stale
        self.retry_failed = retry_failed
        self.retry_items = retry_items
        self.retrying: set[tuple[str, str]] = set()   # (key, shard id): failed items run again
        self.unit_items: dict[tuple[str, str], int] = {}  # items a running unit evaluates
        self.task = build_task_for(spec, self._ref()) if task is None else task
        self.dataset = self.task.load_dataset(spec.data, **spec.data_options) \
            if dataset is None else dataset
        self.profile = profile_dataset(self.dataset)
        self.mean_audio_s = self.profile.mean_audio_s
        self.context = {"task": spec.task, "runner": spec.runner,
                        "task_options": spec.task_options,
                        "dataset": self.profile.digest, "n_items": self.profile.n_items}
        # what each item's result depends on, not where it was read from (store_data)
        # (each file read again only when it changed since a run here read it: file_digest)
        learned: dict[str, tuple[str, str]] = {}
        self.item_audio = item_audio(self.dataset, store.file_digests(), learned)
        content = content_digests(self.dataset, self.item_audio, speakers=spec.task == "ser")
        if content:
            self.context["data_content"] = content
        self.progress = Progress(enabled=progress)
        self.env = environment(device, executor.name, executor.workers)
        self.run_id = store.start_run({**spec.to_dict(), "digest": spec.digest}, self.env)
        self.summary = RunSummary(self.run_id, store.path)
        store.remember_file_digests(learned)
        if "audio" in self.context.get("data_content", {}):  # to tell which item differs later
            store.save_item_audio(self.context["data_content"]["audio"], self.item_audio)
        self.skip: set[str] = set()
        self.failed_keys: set[str] = set()  # configurations that failed in this run
        self.partial = False                # execute runs only some shards (`only_shards`)
        self.lease_s = lease_s
        self.owner = f"{platform.node()}:{os.getpid()}:{self.run_id}:{uuid.uuid4().hex[:8]}"
        self.unclaimed: set[tuple[str, str]] = set()
        store.hold_run(self.owner, self.run_id, lease_s)  # the run's heartbeat
        self._stop_leases = store.keep_leases(self.owner, lease_s)

    def claim(self, u: WorkUnit) -> bool:
        ok = self.store.claim_shard(u.config.key, u.shard.shard_id, self.owner, self.run_id,
                                    self.lease_s, self.retry_failed,
                                    retry_items=(u.config.key, u.shard.shard_id) in self.retrying)
        if not ok:
            self.unclaimed.add((u.config.key, u.shard.shard_id))
        return ok

    def _ref(self) -> TaskRef:
        return task_ref(self.spec)

    def execute(self, configs: Sequence[Config], gflops: dict[str, float | None],
                only_shards: Collection[str] | None = None) -> None:
        """Run what is missing of `configs`; metrics for each configuration that completes.
        `only_shards`: run only the shards with these ids (a racing round)."""
        s = self.summary
        self.partial = only_shards is not None   # a racing round: counted in the last
        todo: list[tuple[Config, list[Shard], list[Shard]]] = []
        held: dict[str, str] = {}    # key -> why it cannot finish (a failed shard not retried)
        for c in configs:
            self.register(c, gflops)
            try:
                shards = list(self.task.shards(c, self.dataset))
            except Exception as e:  # noqa: BLE001 (a bad configuration for this task)
                self._fail(c, f"{type(e).__name__}: {e}")
                continue
            status = self.store.shard_status(c.key)
            done = {k for k, v in status.items() if v["status"] == "done"}
            done |= self._adopt_stored(c, shards, done)
            wanted = shards if only_shards is None else \
                [sh for sh in shards if sh.shard_id in only_shards]
            pending = [sh for sh in wanted if sh.shard_id not in done and
                       (self.retry_failed or status.get(sh.shard_id, {}).get("status") != "failed")]
            not_retried = [sh.shard_id for sh in wanted
                           if sh.shard_id not in done and sh not in pending]
            if self.retry_items:
                pending += self._failed_items_again(c, wanted, done)
            s.shards_skipped += len(wanted) - len(pending)
            if not_retried:  # retry_failed off: the configuration cannot finish in this run
                why = (status[not_retried[0]].get("reason") or "failed").strip().splitlines()
                held[c.key] = (f"shard {not_retried[0]} failed in an earlier run and is not "
                               f"retried: {why[0] if why else 'failed'}")
            if not pending:
                if {sh.shard_id for sh in shards} <= done:
                    stored = dict(self._stored_metrics())
                    m = stored.get(c.key) or self._aggregate(c, shards)
                    if m is None:
                        continue                # counted failed
                    if only_shards is None:  # a racing round counts it in the last round
                        s.reused += 1
                        self._count(c, m)
                elif c.key in held:
                    self._fail(c, held[c.key])
                continue
            todo.append((c, shards, pending))
        s.configs += len(configs)
        if not todo:
            return
        units: list[WorkUnit] = []
        groups: dict[tuple, list[tuple[Config, list[Shard], list[Shard]]]] = {}
        for entry in sorted(todo, key=lambda e: reuse_order(e[0])):
            groups.setdefault(reuse_group(entry[0]), []).append(entry)
        bundle = 0
        for members in groups.values():
            # shard-major inside a group: one shard's features stay cached while its configs run
            shard_ids: list[str] = []
            for _, _, pending in members:
                shard_ids += [sh.shard_id for sh in pending if sh.shard_id not in shard_ids]
            for sid in shard_ids:
                for c, _, pending in members:
                    for sh in pending:
                        if sh.shard_id == sid:
                            units.append(WorkUnit(c, sh, bundle))
                bundle += 1
        remaining = {c.key: {sh.shard_id for sh in p} for c, _, p in todo}
        by_key = {c.key: (c, shards) for c, shards, _ in todo}
        shard_of = {(c.key, sh.shard_id): sh for c, _, p in todo for sh in p}
        self.unit_items.update({k: len(sh.item_ids) for k, sh in shard_of.items()})
        # its other shards still run (their items are kept); it is counted failed at the end
        errors: dict[str, str] = {k: v for k, v in held.items() if k in remaining}
        n_items = sum(len(u.shard.item_ids) for u in units)
        self.progress.start(len(todo), n_items)
        cost = lambda u: (gflops.get(u.config.key) or 1.0) * len(u.shard.item_ids)  # noqa: E731
        while units:
            for r in self.executor.run(self._ref(), units, cost, self.skip, self.claim):
                shard = shard_of[(r.config_key, r.shard_id)]
                self._commit(r, shard, errors)
                self._shard_finished(r.config_key, r.shard_id, remaining, by_key, errors)
            # shards another runner holds: wait until it stores them, or take them over when
            # its lease expires
            units = self._wait_for_others(remaining, by_key, shard_of, errors)
        for key, left in remaining.items():  # skipped after a failure of the same configuration
            if left:
                c, _ = by_key[key]
                self._fail(c, errors.get(key, "not run"))
                self.progress.advance_config(c.label)
                self.progress.advance_items(sum(len(shard_of[(key, sid)].item_ids)
                                                for sid in left))
        self.progress.stop()

    def register(self, c: Config, gflops: dict[str, float | None]) -> None:
        """Add `c` to the store, or check it against what is stored (the same data, task
        options and rule); with recompute_stale, stored results of an older rule are discarded
        here, so what is stored for `c` afterwards is what this run may keep."""
        v = result_version(self.task, c)
        context = self.context if v == 1 else {**self.context, "result_version": v}
        # a stored failure on no audio keeps 'unreadable' in the record until a result computed
        # on the item's audio is stored (store_data.record_stored_audio, in that transaction);
        # the data is checked (store_data.check_data) in register_config's write transaction
        self.store.register_config(c, gflops.get(c.key), context, self.run_id,
                                   recompute_stale=self.recompute_stale, audio=self.item_audio)

    def _adopt_stored(self, c: Config, shards: Sequence[Shard], done: set[str]) -> set[str]:
        """Ids of the shards not stored under their id whose items all have a stored result
        (the task planned the same items into other shards in an earlier run: ASR orders
        them by duration, and a file unreadable in one run has none), now marked done with
        those results (`ResultsStore.adopt_stored_shard`): an item is never computed again
        for a new grouping, nor its stored ok result replaced by a failure. A failed item among
        them stays a failed result (`--retry-failed` runs it again)."""
        todo = [sh for sh in shards if sh.shard_id not in done]
        if not todo:
            return set()
        stored = self.store.stored_item_ids(c.key)
        return {sh.shard_id for sh in todo if stored.issuperset(sh.item_ids) and
                self.store.adopt_stored_shard(c.key, sh.shard_id, sh.item_ids, self.run_id)}

    def _failed_items_again(self, c: Config, wanted: Sequence[Shard],
                            done: set[str]) -> list[Shard]:
        """The finished shards of `wanted` that hold failed items, as units to run again: only
        those items where the task evaluates a subset of a shard (`item_subsets`), else the
        whole shard (the merge keeps its ok items as stored)."""
        failed = self.store.failed_items(c.key)
        subsets = bool(getattr(self.task, "item_subsets", False))
        out = []
        for sh in wanted:
            again = failed.get(sh.shard_id)
            if sh.shard_id not in done or not again:
                continue
            if subsets:
                sh = Shard(sh.shard_id, tuple(i for i in sh.item_ids if i in again), sh.info)
            self.retrying.add((c.key, sh.shard_id))
            out.append(sh)
        return out

    def _shard_finished(self, key: str, sid: str, remaining: dict[str, set[str]],
                        by_key: dict, errors: dict[str, str]) -> None:
        c, shards = by_key[key]
        self.progress.advance_items(self.unit_items.get(
            (key, sid), len(next(sh for sh in shards if sh.shard_id == sid).item_ids)))
        remaining[key].discard(sid)
        if not remaining[key]:
            if key in errors:
                self._fail(c, errors[key])
            elif self.store.done_shards(key) >= {sh.shard_id for sh in shards}:
                m = self._aggregate(c, shards)
                if m is not None:
                    self._count(c, m)
            self.progress.advance_config(c.label)

    def _wait_for_others(self, remaining: dict[str, set[str]], by_key: dict, shard_of: dict,
                         errors: dict[str, str], poll_s: float = 0.25) -> list[WorkUnit]:
        """Shards left to another runner: return when all are stored (by it), or with the units
        of those whose lease expired (to run here). A shard held by a run of this machine whose
        process is gone (killed while this one waited) is taken over at once
        (`ResultsStore.release_dead_runs`), not after its lease expires; while a live runner is
        waited for, a line (with progress) says whose shards and until when, once a runner."""
        told: set[str] = set()
        while True:
            retake: list[WorkUnit] = []
            waiting: dict[str, list] = {}   # owner -> [shards, first label, first shard, expiry]
            for key, left in remaining.items():
                if key in errors or not left:
                    continue
                status = self.store.shard_status(key)
                held = self.store.lease_holders(key, self.owner)
                for sid in sorted(left):
                    if (key, sid) not in self.unclaimed:
                        continue
                    st = status.get(sid, {})
                    if sid in held:  # (a done shard too: another runner retries its items)
                        owner, _, expires = held[sid]
                        w = waiting.setdefault(owner, [0, by_key[key][0].label, sid, expires])
                        w[0] += 1
                    elif st.get("status") == "done":
                        self.unclaimed.discard((key, sid))
                        self._shard_finished(key, sid, remaining, by_key, errors)
                    elif st.get("status") == "failed":
                        self.unclaimed.discard((key, sid))
                        errors.setdefault(key, (st.get("reason") or "failed").splitlines()[0])
                    else:
                        self.unclaimed.discard((key, sid))
                        retake.append(WorkUnit(by_key[key][0], shard_of[(key, sid)],
                                               bundle=10 ** 6 + len(retake)))
            if retake or not waiting:
                return retake
            gone = self.store.release_dead_runs()
            if gone:  # their leases are dropped: the next pass takes their shards
                for run_id, env in sorted(gone.items()):
                    self.progress.note(f"run {run_id} (pid {env.get('pid')} on this machine) "
                                       "is gone: taking over its shards")
                continue
            for owner, (n, label, sid, expires) in waiting.items():
                if owner not in told:
                    told.add(owner)
                    self.progress.note(_waiting_line(owner, n, label, sid, expires))
            time.sleep(poll_s)

    def _commit(self, r: UnitResult, shard: Shard, errors: dict[str, str]) -> None:
        s = self.summary
        if r.results is not None:
            got = [x.item_id for x in r.results]
            if sorted(got) != sorted(shard.item_ids):
                r.error = (f"shard {shard.shard_id} returned results for {len(got)} items "
                           f"({len(set(got))} distinct) instead of its {len(shard.item_ids)}")
                r.results = None
        if (r.config_key, r.shard_id) in self.retrying:
            self.retrying.discard((r.config_key, r.shard_id))
            if r.results is None:  # the retry itself failed: its items stay failed, with why
                why = (r.error or "unknown failure").strip().splitlines()
                r.results = [ItemResult(i, ok=False, error=f"retry in run {self.run_id} "
                                                           f"failed: {why[0] if why else ''}")
                             for i in shard.item_ids]
            n = self.store.merge_retried_items(r.config_key, r.shard_id, r.results, self.run_id,
                                               r.attempts, owner=self.owner,
                                               audio=self.item_audio)
            s.shards_run += 1
            s.items_run += n
            return
        if r.results is None:
            reason = (r.error or "unknown failure").strip()
            self.store.fail_shard(r.config_key, r.shard_id, reason, self.run_id, r.attempts,
                                  owner=self.owner)
            errors.setdefault(r.config_key, reason.splitlines()[0])
            self.skip.add(r.config_key)
            return
        if not self.store.commit_shard(r.config_key, r.shard_id, r.results, self.run_id,
                                       r.attempts, owner=self.owner, audio=self.item_audio):
            return  # another runner stored it after this one's lease had expired
        s.shards_run += 1
        s.items_run += len(r.results)

    def _count(self, c: Config, m: ConfigMetrics) -> None:
        """Count `c`, whose metrics `m` are stored, as finished, or as failed when none of its
        items was scored (`none_scored`)."""
        if none_scored(m):
            self.summary.failed += 1
            self.summary.none_scored.append(c.label)
        else:
            self.summary.finished += 1

    def _aggregate(self, c: Config, shards: Sequence[Shard]) -> ConfigMetrics | None:
        """Store `c`'s metrics and return them; None (and `c` counted failed) when the task
        cannot."""
        order = {iid: i for i, iid in enumerate(i for sh in shards for i in sh.item_ids)}
        items: list[ItemResult] = sorted(self.store.items(c.key),
                                         key=lambda r: order.get(r.item_id, len(order)))
        try:
            m = self.task.aggregate(c, items)
        except Exception as e:  # noqa: BLE001
            self._fail(c, f"aggregate: {type(e).__name__}: {e}")
            return None
        m.config_key = c.key
        if not self.store.set_metrics(c.key, m, self.run_id, items=items):
            return self._aggregate(c, shards)  # another runner stored items meanwhile
        return m

    def _fail(self, c: Config, reason: str) -> None:
        """Store `c` as failed and count it so; where another runner finished it meanwhile
        (--retry-failed ran the failed shard again) its 'done' and metrics stay, and it counts
        as finished (in a racing round: in the last round, which finds it done)."""
        if not self.store.set_config_status(c.key, "failed", reason, unless=("done",)):
            m = dict(self._stored_metrics()).get(c.key)
            if m is not None and not self.partial:
                self._count(c, m)
            return
        self.failed_keys.add(c.key)
        self.summary.failures[c.label] = reason.splitlines()[0]
        self.summary.failed += 1

    def _stored_metrics(self) -> list[tuple[str, ConfigMetrics]]:
        return [(c.key, m) for c, m in self.store.metrics()]

    def finish(self, configs: Sequence[Config], status: str, t0: float,
               reason: str | None = None) -> RunSummary:
        keys = {c.key for c in configs}
        self.summary.metrics = [(c, m) for c, m in self.store.metrics() if c.key in keys]
        self.summary.seconds = time.perf_counter() - t0
        self._stop_leases()
        self.store.release_leases(self.owner)
        self.store.finish_run(self.run_id, status, reason)
        return self.summary


def _waiting_line(owner: str, n: int, label: str, sid: str, expires: float) -> str:
    """What a runner waiting for another's shards says: whose, which, and until when."""
    parts = owner.rsplit(":", 3)   # HOST:PID:RUN:TAG (Sweep.owner)
    host, pid, run = parts[:3] if len(parts) == 4 else (owner, "?", "?")
    stamp = time.strftime("%H:%M:%S", time.localtime(expires))
    more = f" and {n - 1} more" if n > 1 else ""
    return (f"waiting for shard {sid} of {label}{more}, held by run {run} (pid {pid} on "
            f"{host}): it is stored by that runner, or taken over here if its lease is not "
            f"renewed by {stamp} (the runner stopped; --lease-s)")
