"""Run a sweep into a results store; re-running the same spec on the same store resumes it.

    from speechbudget.sweep import load_spec, run_sweep
    summary = run_sweep(load_spec("examples/asr_star.yaml"), "runs.db")   # or a path to the spec
    summary.metrics        # [(Config, ConfigMetrics)] of this sweep's finished configurations

What is already in the store is never recomputed: finished shards are skipped, unfinished ones
(a crash, a kill) are run again, and a spec with new values adds only the new configurations.
A configuration that fails (a model that cannot load, a task that raises) is recorded as failed
with the reason and the sweep goes on; it is tried again the next time the sweep runs
(not with retry_failed=False). An item that fails inside a shard that finishes (ok=False: an
unreadable file, a batch that ran out of memory) is a stored result, counted in the metrics'
n_failed; retry_items=True (`sweep run --retry-failed`) runs those items again and replaces
only them, then aggregates the configuration again from all its items. A configuration
whose task now computes it by another rule than its stored results were (`result_version`) is
not resumed: the run stops with a StoreError naming it, and recompute_stale=True
(`--recompute-stale`) discards its results and computes them again.

The store records a run (`runs list`) once the spec, its task and its dataset are loaded; what
is wrong before that (the spec, the runner, task options, the data) leaves no run. A recorded
run ends 'finished'; 'interrupted' on Ctrl-C (a second Ctrl-C or SIGTERM while that is
recorded is ignored); 'failed', with the error as its reason, when an
error stops it — a plan that selects nothing, an Optuna storage holding another study, a
configuration stored with other data — however little or much it had run by then.
"""
from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
import time
from pathlib import Path

from speechbudget.axes import Config
from speechbudget.machine import check_device, default_device
from speechbudget.sweep.adaptive import run_adaptive
from speechbudget.sweep.driver import RunSummary, Sweep, build_task_for, task_ref
from speechbudget.sweep.executors import make_executor
from speechbudget.sweep.plan import plan_configurations
from speechbudget.sweep.racing import run_race
from speechbudget.sweep.scheduling import Executor
from speechbudget.sweep.spec import SpecError, SweepSpec, load_spec, spec_from_dict
from speechbudget.sweep.spec_paths import resolve_data
from speechbudget.sweep.store import ResultsStore
from speechbudget.sweep.store_leases import DEFAULT_LEASE_S

__all__ = ["RunSummary", "run_sweep"]


def run_sweep(spec: SweepSpec | dict | str | Path, store_path: str | Path, executor: str | Executor =
              "local", address: str | None = None, progress: bool = False,
              device: str | None = None, workers: int | None = None, data: str | None = None,
              max_retries: int = 2, retry_failed: bool = True,
              allow_runner: bool = False, lease_s: float = DEFAULT_LEASE_S,
              retry_items: bool = False, unit_timeout_s: float | None = None,
              recompute_stale: bool = False) -> RunSummary:
    """Run (or resume) `spec` (a SweepSpec, a spec file, or the mapping a file would hold) into
    the SQLite store at `store_path`.

    executor: "local" (this process), "process" (a pool of `workers` processes) or "ray"
    (a Ray cluster at `address`, or a local Ray). progress: progress bars (stderr) and the
    summary table (stdout) as the command line shows them; off by default, so a library call
    prints nothing. device: where models run (default: cuda when available). data: overrides the spec's data path. allow_runner: a spec's `runner` (code
    imported from a file or module) is refused unless this is True. lease_s: how long a shard
    claimed by this runner stays its own without renewal. retry_failed: run again the shards
    that failed in an earlier run (default); retry_items: also the items stored as failed in
    finished shards (needs retry_failed). unit_timeout_s: a work unit (one configuration x one
    shard) running longer is recorded as failed and the sweep goes on (how each executor stops
    it: speechbudget.sweep.executors). recompute_stale: a configuration whose stored results
    were computed by an older rule of its task (`driver.result_version`; without it a
    StoreError, exit 4) is discarded and computed again. Returns a RunSummary whose `.metrics`
    lists every finished configuration of the sweep.
    """
    if isinstance(spec, dict):
        spec = spec_from_dict(spec, data=data)
    elif not isinstance(spec, SweepSpec):
        spec = load_spec(spec, data=data)
    elif data is not None:  # the spec as validated, with the data replaced (checked as --data)
        resolved = resolve_data(data, Path("."), from_spec=False)
        if resolved is None:
            raise SpecError("data", f"{data} does not exist (relative to the current folder)",
                            spec.source)
        spec = dataclasses.replace(spec, data=resolved)
    if spec.runner and not allow_runner:
        raise SpecError("runner", f"the spec imports and runs code from {spec.runner}; pass "
                                  "--allow-runner (allow_runner=True) if you trust it",
                        spec.where("runner"))
    if spec.data is None:
        raise ValueError(f"{spec.source or spec.name}: data: no dataset given (set 'data' in the "
                         "spec or pass --data)")
    device = check_device(device or spec.device or default_device())
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ValueError(f"workers={workers!r}: expected an integer >= 1")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"retries={max_retries!r}: expected an integer >= 0")
    if retry_items and not retry_failed:
        raise ValueError("retry_items=True runs failed items again, retry_failed=False "
                         "retries nothing: give one of them")
    if not (isinstance(lease_s, (int, float)) and lease_s > 0):
        raise ValueError(f"lease_s={lease_s!r}: expected seconds > 0")
    ex = make_executor(executor, workers, device, address, max_retries,
                       unit_timeout_s=unit_timeout_s)
    ex.device = device
    t0 = time.perf_counter()
    store = None
    sweep = None
    configs: list[Config] = []
    try:
        # the task (its options) and its data first: what they refuse leaves no store file
        # and no run behind (an existing store is not opened, so not modified)
        task = build_task_for(spec, task_ref(spec))
        dataset = task.load_dataset(spec.data, **spec.data_options)
        store = ResultsStore(store_path)
        sweep = Sweep(spec, store, ex, device, progress, retry_failed, lease_s,
                      retry_items=retry_items, recompute_stale=recompute_stale,
                      task=task, dataset=dataset)
        if spec.plan.type == "adaptive":
            configs = run_adaptive(spec, sweep)
        else:
            plan = plan_configurations(spec, audio_s=sweep.mean_audio_s)
            configs = plan.configs
            if not configs and plan.unmatched:  # an iso_flops plan that selects nothing
                raise SpecError("plan.budgets_gflops", "; ".join(plan.unmatched_text()),
                                spec.where("plan.budgets_gflops"))
            if spec.plan.race_first_items is not None:
                configs = run_race(sweep, plan)
            else:
                sweep.execute(configs, plan.gflops)
        summary = sweep.finish(configs, "finished", t0)
        if progress:
            sweep.progress.summary_table(summary, store)
        return summary
    except BaseException as e:
        if sweep is not None:
            with _signals_held():  # a second Ctrl-C / SIGTERM cannot leave the run 'running'
                sweep.progress.stop()
                if isinstance(e, Exception):  # an error stopped it (module doc): failed, why
                    sweep.finish(configs, "failed", t0, _one_line(e))
                else:                         # Ctrl-C (KeyboardInterrupt), SystemExit
                    sweep.finish(configs, "interrupted", t0)
        raise
    finally:
        ex.close()
        if store is not None:
            store.close()


@contextlib.contextmanager
def _signals_held():
    """SIGINT and SIGTERM ignored while the stopped run is recorded (then their handlers are
    back): a second Ctrl-C or `kill` during the shutdown would otherwise raise inside it and
    leave the run marked 'running'. Only in the main thread (where Python runs handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def _one_line(e: BaseException) -> str:
    """An error as the run's stored reason: its type and message on one line."""
    return f"{type(e).__name__}: {' '.join(str(e).split())}"
