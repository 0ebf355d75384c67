"""`speechbudget sweep plan|run SPEC`: plan a sweep (configurations, FLOPs, time) or run it."""
from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from speechbudget.cli.app import app
from speechbudget.cli.errors import err_line, one_line
from speechbudget.cli.options import float_option, int_option
from speechbudget.cli.output import console as out_console, inert, line

sweep_app = typer.Typer(help="Plan and run sweeps over model size, window, stride, adaptation.",
                        no_args_is_help=True)
app.add_typer(sweep_app, name="sweep")
console = out_console()   # user text shown as it is, lines never folded (cli/output.py)


def _check_data_option(data: str | None) -> None:
    """--data names a dataset on the command line: one that does not exist is a dataset error
    (exit 3, docs/security.md), not a sweep-file error."""
    if data is None:
        return
    from speechbudget.errors import DatasetError
    from speechbudget.sweep.spec_paths import resolve_data
    if resolve_data(data, Path("."), from_spec=False) is None:
        raise DatasetError(f"{data} does not exist (relative to the current folder)",
                           field="--data")


def _fail(msg: str) -> None:
    err_line(msg, "error: ")
    raise typer.Exit(2)


@sweep_app.command("plan")
def plan_cmd(spec: Path = typer.Argument(..., help="sweep file (YAML)"),
             data: Optional[str] = typer.Option(None, help="dataset (overrides the spec's)"),
             store: Optional[Path] = typer.Argument(None, help="results store: use its past "
                                                    "runs for the time estimate"),
             store_opt: Optional[Path] = typer.Option(None, "--store", hidden=True,
                                                      help="old spelling of STORE"),
             as_json: bool = typer.Option(False, "--json", help="print the plan as JSON"),
             audio_s: Optional[float] = float_option(None, help="item length for FLOPs (s); "
                                                                "default: the dataset's mean"),
             time_model: Optional[Path] = typer.Option(
                 None, "--time-model", help="calibration file for the time prediction (default: "
                                            "the one `sweep calibrate` writes in the cache)")
             ) -> None:
    """Print the configurations, their FLOPs and a predicted run time; runs nothing.

    The time is predicted per configuration from the cost model calibrated on this machine
    (`speechbudget sweep calibrate`; encoder at a measured fraction of the matmul peak, re-measured
    now, plus decoded tokens at a measured cost per token and batch size), on the dataset's
    utterance lengths. Without a calibration, or for what it does not cover (SER, other models),
    it falls back to FLOPs at an effective GFLOP/s, and says so."""
    from speechbudget.sweep.plan import (calibrate_gflops_per_s, estimate_seconds,
                                         plan_configurations, throughput)
    from speechbudget.sweep.spec import SpecError, load_spec
    from speechbudget.sweep.store import ResultsStore
    from speechbudget.sweep.timing import (load_time_model, predict_adaptive_seconds,
                                           predict_config_seconds, predict_race_seconds)
    from speechbudget.axes import ConfigError
    store = store or store_opt
    if audio_s is not None and not (math.isfinite(audio_s) and audio_s > 0):
        _fail(f"--audio-s {audio_s}: expected seconds > 0")
    _check_data_option(data)
    try:
        s = load_spec(spec, data=data)
    except SpecError as e:
        _fail(str(e))
    try:
        task = _plan_task(s) if s.data is not None or store is not None else None
        n_items, mean_s, durations, work = _dataset_size(s, task)
    except SpecError as e:
        _fail(str(e))
    p = plan_configurations(s, audio_s=audio_s or mean_s)
    st = ResultsStore(store, readonly=True) if store else None  # a StoreError is exit 4
    try:
        tm = load_time_model(time_model)
    except ConfigError as e:
        _fail(str(e))
    tp = throughput(st)
    batch = int(s.task_options.get("batch_size", 8))
    peak_now = calibrate_gflops_per_s() if tm is not None and durations else None
    how: dict[str, str] = {}

    def seconds_for(c) -> float | None:
        """Calibrated prediction when the time model covers `c`, else FLOPs at throughput."""
        if tm is not None and durations:
            sec = predict_config_seconds(c, tm, durations, batch, peak_now)
            if sec is not None:
                how[c.key] = "calibrated"
                return sec
        how[c.key] = "FLOPs"
        if work is not None:  # the task's own bound on everything it runs (SER: training)
            return estimate_seconds(work(c), 1, tp)
        return estimate_seconds(p.gflops.get(c.key), n_items, tp)

    def seconds_on(c, ds) -> float | None:
        """The same prediction on the items of lengths `ds` (a racing round)."""
        if tm is not None and ds:
            sec = predict_config_seconds(c, tm, ds, batch, peak_now)
            if sec is not None:
                return sec
        return estimate_seconds(p.gflops.get(c.key), len(ds), tp)
    race = adaptive = None
    if s.plan.race_first_items is not None and s.plan.type != "adaptive" and durations:
        race = predict_race_seconds(p.configs, durations, seconds_on, batch,
                                    s.plan.race_first_items, s.plan.race_growth)
    if s.plan.type == "adaptive":
        adaptive = predict_adaptive_seconds([seconds_for(c) for c in p.configs], s.plan.n_trials)
    status = {r["key"]: r["status"] for r in st.configs()} if st else {}
    # stored by an older rule of the task: sweep run stops on them (or recomputes them)
    stale = _stale_configs(st, task, p.configs) if st and task is not None else {}
    status.update({key: "stale" for key in stale})
    if as_json:
        import dataclasses
        import json
        rows = [{"label": c.label, "key": c.key, "config": c.to_dict(),
                 "gflops": p.gflops.get(c.key),
                 "estimated_s": seconds_for(c),
                 "estimate_source": how.get(c.key),
                 "budgets_gflops": p.bands.get(c.key, []), "in_store": status.get(c.key)}
                for c in p.configs]
        typer.echo(json.dumps({"name": s.name, "plan": s.plan.type, "items": n_items,
                               "space_size": p.space_size, "configs": rows,
                               "gflops_per_s": tp.gflops_per_s, "throughput_source": tp.source,
                               "time_model": None if tm is None else tm.to_dict(),
                               "batch_size": batch, "peak_gflops_per_s_now": peak_now,
                               "race": None if race is None else dataclasses.asdict(race),
                               "adaptive": None if adaptive is None
                               else dataclasses.asdict(adaptive),
                               "unmatched_budgets": p.unmatched_text(),
                               "invalid": [{"values": inv.values, "field": inv.error.field,
                                            "error": str(inv.error)} for inv in p.invalid]},
                              indent=1, default=str))
        return
    # a star enumerates its own points only (plan.plan_configurations): no joint-space count
    of = ("the centre and one axis varied at a time" if s.plan.type == "star"
          else f"of {p.space_size} valid in the joint space")
    t = Table(title=f"{inert(s.name)}: {s.plan.type} plan, {len(p.configs)} configurations "
                    f"({of}), {n_items or '?'} items")
    for col in ("#", "configuration", "key", "GFLOPs/item", "est. time"):
        t.add_column(col, justify="left" if col in ("configuration", "key") else "right")
    if s.plan.type == "iso_flops":
        t.add_column("budget (GFLOPs)", justify="right")
    if st:
        t.add_column("in store")
    total, unknown = 0.0, 0
    for i, c in enumerate(p.configs, 1):
        g = p.gflops.get(c.key)
        sec = seconds_for(c)
        if status.get(c.key) != "done":
            total += sec or 0.0
            unknown += sec is None
        row = [str(i), inert(c.label), inert(c.key), "n/a" if g is None else f"{g:.2f}",
               _dur(sec)]
        if s.plan.type == "iso_flops":
            row.append(", ".join(f"{b:g}" for b in p.bands.get(c.key, [])))
        if st:
            row.append(f"stale (rule {stale[c.key][0]}, now {stale[c.key][1]})"
                       if c.key in stale else status.get(c.key, "-"))
        t.add_row(*row)
    console.print(t)
    if stale:
        line(f"{len(stale)} configuration(s) in the store hold results of an older rule of the "
             "task (stale): `sweep run` stops on them; `sweep run --recompute-stale` discards "
             "and computes them again (counted as not done here)", style="yellow")
    if s.plan.type == "adaptive":
        n = min(s.plan.n_trials, len(p.configs))
        console.print(f"adaptive ({s.plan.sampler}): evaluates {n} of these {len(p.configs)} "
                      f"configurations, minimising {' and '.join(s.plan.objectives)}")
        total = total * n / max(1, len(p.configs))
        if adaptive is not None and adaptive.expected_s is not None:
            console.print(f"adaptive: all {adaptive.n_space} configurations "
                          f"{_dur(adaptive.full_s)}; {n} trials expected "
                          f"{_dur(adaptive.expected_s)} (n_trials x the mean), between "
                          f"{_dur(adaptive.low_s)} (the {n} cheapest) and "
                          f"{_dur(adaptive.high_s)} (the {n} dearest): which ones the search "
                          "picks is known only as it runs")
    for text in p.unmatched_text():  # iso_flops budgets that select nothing
        line(text, style="yellow")
    if race is not None:
        _print_race(race, len(p.configs))
    elif s.plan.race_first_items is not None and s.plan.type != "adaptive":
        console.print("racing: no per-item lengths to schedule the rounds on, no race bound")
    left = " (configurations not done in the store)" if st else ""
    n_cal = sum(1 for v in how.values() if v == "calibrated")
    why = ("no calibrated time model: `speechbudget sweep calibrate` measures one" if tm is None
           else "not covered by the calibration")
    if work is not None:  # the task bounds its own work (SER: every fold's training)
        basis = "the task's bound: every fold it runs, all epochs; early stopping ends sooner"
    else:
        basis = f"FLOPs for items of {f'{p.audio_s:.1f} s' if p.audio_s else 'window length'}"
    if unknown:
        console.print(f"{unknown} of {len(p.configs)} configurations have no time estimate"
                      + ("" if n_items else " (dataset size unknown: give --data)"))
    if n_cal:
        console.print(f"predicted run time{left} {_dur(total)}: {n_cal} of {len(how)} "
                      f"configurations by the time model ({inert(tm.calibration)}; encoder "
                      f"rescaled to the matmul peak measured now, {peak_now:.0f} GFLOP/s; batch "
                      f"{batch}; processing seconds, not model loading)")
        if n_cal < len(how):
            console.print(f"the other {len(how) - n_cal} configuration(s) ({why}): FLOPs at "
                          f"{tp.gflops_per_s:.1f} GFLOP/s ({tp.source}; {basis})")
    elif unknown < len(p.configs):
        console.print(f"estimated run time{left} {_dur(total)}"
                      f"{' for the others' if unknown else ''} at {tp.gflops_per_s:.1f} GFLOP/s "
                      f"({tp.source}; {basis})")
        console.print(f"[dim]({why})[/dim]")
    if p.invalid:
        console.print(f"[yellow]{len(p.invalid)} combinations are not valid configurations "
                      f"and are skipped:[/yellow]")
        for inv in p.invalid[:20]:
            vals = ", ".join(f"{k}={v}" for k, v in inv.values.items()
                             if k in ("model", inv.error.field.split(".")[0]))
            console.print(f"  {inert(vals)}: [yellow]{inert(inv.error.field)}[/yellow]: "
                          f"{inert(inv.error)}")
        if len(p.invalid) > 20:
            console.print(f"  ... and {len(p.invalid) - 20} more")


def _print_race(race, n_configs: int) -> None:
    """The race's predicted time: the first round is certain, the rest is bounded."""
    sched = " -> ".join(str(n) for n in race.rounds_items)
    if race.first_round_s is None:
        console.print(f"racing: rounds of {sched} items; {race.n_unknown} configuration(s) "
                      "have no time prediction, no race bound")
        return
    console.print(f"racing: rounds of {sched} items. Full grid without racing "
                  f"{_dur(race.full_s)}; first round ({race.rounds_items[0]} items, all "
                  f"{n_configs} configurations) {_dur(race.first_round_s)}; the race takes "
                  f"between {_dur(race.lower_s)} (one survivor after the first round) and "
                  f"{_dur(race.upper_s)} (no configuration eliminated): which ones survive "
                  "the later rounds is known only as it runs")


def _plan_task(spec) -> Any:
    """The spec's task, or None for a runner's (a plan runs nothing: a custom task's code is
    never imported here). Task options the task refuses are the spec's error (exit 2, as
    sweep run), not the data's."""
    if spec.runner:
        return None
    from speechbudget.sweep.driver import build_task_for
    from speechbudget.sweep.work_units import TaskRef
    import json
    return build_task_for(spec, TaskRef(spec.task, json.dumps(spec.task_options), spec.data,
                                        spec.runner))


def _stale_configs(store, task, configs) -> dict[str, tuple[int, int]]:
    """key -> (stored rule, the task's rule now) for each of `configs` stored with results of
    another rule of `task` (`driver.result_version`): `sweep run` would not resume it."""
    from speechbudget.sweep.driver import result_version
    stored = store.result_versions()
    out = {}
    for c in configs:
        if c.key in stored and stored[c.key] != (now := result_version(task, c)):
            out[c.key] = (stored[c.key], now)
    return out


def _dataset_size(spec, task) -> tuple[int | None, float | None, list[float], Any]:
    """Items, mean duration and each item's duration, when the task can read the dataset
    quickly; and the task's own bound on a configuration's GFLOPs over the whole dataset where
    it has one (`planned_gflops`: SER's training), else None. `task`: `_plan_task`'s."""
    if spec.data is None:
        return None, None, [], None
    # (notes go to stderr: stdout holds the plan, which --json keeps machine-readable)
    if spec.runner:  # a plan runs nothing: a custom task's code is never imported here
        line(f"runner {spec.runner} (not imported by plan; `sweep run` needs --allow-runner): "
             "dataset size unknown", err=True)
        return None, None, [], None
    try:
        dataset = task.load_dataset(spec.data, **spec.data_options)
        items = list(dataset.items)
    except Exception as e:  # noqa: BLE001 (the plan still prints without a size)
        err_line(f"could not read the dataset {spec.data}: {e}")
        return None, None, [], None
    d = [getattr(i, "duration_s", None) or getattr(i, "audio_s", None) for i in items]
    ok = bool(d) and all(d)
    planned = getattr(task, "planned_gflops", None)
    work = None if planned is None else partial(_planned_or_none, planned, dataset)
    return len(items), (sum(d) / len(d) if ok else None), (list(d) if ok else []), work


def _planned_or_none(planned, dataset, config) -> float | None:
    """The task's bound on `config`'s GFLOPs, or None (no estimate) for a combination its FLOPs
    model does not cover."""
    from speechbudget.axes import ConfigError
    try:
        return planned(config, dataset)
    except ConfigError:
        return None


@sweep_app.command("calibrate")
def calibrate_cmd(models: str = typer.Option("tiny.en,base", help="models to calibrate, "
                                             "comma-separated"),
                  data: Optional[str] = typer.Option(None, help="ASR dataset (default: the "
                                                                "bundled LibriSpeech sample)"),
                  items: int = int_option(6, min=1, help="utterances to time"),
                  batch_sizes: str = typer.Option("1,4,8", "--batch-sizes",
                                                  help="decoder batch sizes to time"),
                  device: Optional[str] = typer.Option(None, help="cpu, cuda ... (default: cuda "
                                                                  "if present)"),
                  out: Optional[Path] = typer.Option(None, "-o", "--out",
                                                     help="calibration file (default: "
                                                          "time_model.json in the cache)")
                  ) -> None:
    """Measure this machine's run-time model (encoder efficiency, decoder seconds per token by
    batch size, features) for `sweep plan` and `runs show`. Costs about a model load plus ITEMS
    utterances per batch size and model (tiny.en, 6 utterances, 1/4/8: ~20 s on 2 cores)."""
    from speechbudget.axes import ConfigError
    from speechbudget.machine import default_device
    from speechbudget.errors import OutputError, write_atomic
    from speechbudget.sweep.timing import calibrate_time_model, default_path, save_time_model
    try:
        bss = [int(b) for b in batch_sizes.split(",") if b.strip()]
    except ValueError:
        _fail(f"--batch-sizes {batch_sizes!r}: expected integers separated by commas")
    names = [m.strip() for m in models.split(",") if m.strip()]
    try:  # before the work: a bad device, or an --out that is a folder, FIFO or device (as
        # root, /dev/null itself would be replaced by the file)
        from speechbudget.errors import check_output_file
        from speechbudget.machine import check_device
        device = check_device(device or default_device())
        if out is not None:
            check_output_file(out, "--out")
    except ConfigError as e:
        _fail(str(e))
    if data is None:
        from speechbudget.demo import default_asr_data
        data = str(default_asr_data())
    try:
        tm = calibrate_time_model(names, data, items, bss, device or default_device(),
                                  progress=lambda msg: line(msg, err=True))
    except (ConfigError, ValueError, OSError) as e:
        _fail(str(e))
    # a write that fails after the up-front check (under /proc as root, a folder gone meanwhile)
    # is OutputError naming --out or the cache file (exit 6), not a bare OS message (exit 2)
    if out is not None:
        path = write_atomic(out, json.dumps(tm.to_dict(), indent=1), option="--out")
    else:
        try:
            path = save_time_model(tm)   # the cache file, its folder made
        except OSError as e:
            raise OutputError(f"cannot write the calibration to {default_path()} "
                              f"({e.strerror or e})") from None
    line(f"wrote {path}: {tm.calibration}")


def _dur(sec: float | None) -> str:
    if sec is None:
        return "?"
    if sec < 120:
        return f"{sec:.0f} s"
    if sec < 7200:
        return f"{sec / 60:.1f} min"
    return f"{sec / 3600:.1f} h"


@sweep_app.command("run")
def run_cmd(spec: Path = typer.Argument(..., help="sweep file (YAML)"),
            store: Optional[Path] = typer.Argument(None, help="results store (SQLite); "
                                                   "re-running on the same store resumes"),
            store_opt: Optional[Path] = typer.Option(None, "--store", hidden=True,
                                                     help="old spelling of STORE"),
            executor: str = typer.Option("local", help="local | process | ray"),
            address: Optional[str] = typer.Option(None, help="Ray cluster address (default: "
                                                             "start a local Ray)"),
            workers: Optional[int] = int_option(None, min=1, help="processes / Ray actors"),
            data: Optional[str] = typer.Option(None, help="dataset (overrides the spec's)"),
            device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:1 ... (default: "
                                                            "cuda if present)"),
            retries: int = int_option(2, min=0, help="retries of a unit whose worker died"),
            retry_failed: Optional[bool] = typer.Option(
                None, "--retry-failed/--no-retry-failed",
                help="what failed in an earlier run on this store is run again: by default the "
                     "shards (units) that failed; --retry-failed also the items stored as failed "
                     "inside finished shards (only those items are replaced, then the metrics "
                     "are aggregated again); --no-retry-failed neither"),
            progress: bool = typer.Option(True, help="progress bars and summary table"),
            allow_runner: bool = typer.Option(False, "--allow-runner",
                                              help="allow the spec's `runner` (imports and runs "
                                                   "code from the file or module it names)"),
            lease_s: float = float_option(300.0, "--lease-s", min=0.1,
                                          help="seconds before a shard claimed by a runner that "
                                               "died can be taken by another runner"),
            unit_timeout: Optional[float] = float_option(
                None, "--unit-timeout", min=0.001, metavar="SECONDS",
                help="a unit (one configuration x one shard) running longer is recorded as "
                     "failed ('unit timed out') and the sweep goes on; it counts what the unit "
                     "loads. process/ray kill the worker at the limit; local interrupts the task "
                     "at its next Python step (main thread, POSIX only)"),
            recompute_stale: bool = typer.Option(
                False, "--recompute-stale",
                help="a configuration whose stored results were computed by an older rule of "
                     "its task (e.g. SER pool attn before 59db9fa) is discarded and computed "
                     "again; without it such a store is refused (exit 4) rather than resumed "
                     "into a mix of both rules")
            ) -> None:
    """Run a sweep into a store (or resume it): only what is missing is computed.

    Shards that failed in an earlier run are retried (not with --no-retry-failed); items that
    failed inside a finished shard are results (counted in n_failed) and run again only with
    --retry-failed. What succeeded is never recomputed or replaced."""
    from speechbudget.machine import default_device
    from speechbudget.sweep.run import run_sweep
    from speechbudget.errors import SpeechbudgetError
    from speechbudget.sweep.spec import SpecError, load_spec
    device = device or default_device()
    store = store or store_opt
    if store is None:
        _fail("give the results store: speechbudget sweep run SPEC STORE")
    _check_data_option(data)
    from speechbudget.cli.interrupt import interrupted_keeps
    # `kill PID` ends the run as Ctrl-C does: 'interrupted', one line, exit 130
    try:
        with interrupted_keeps(store):
            s = load_spec(spec, data=data)
            summary = run_sweep(s, store, executor=executor, address=address,
                                progress=progress, device=device, workers=workers,
                                max_retries=retries, retry_failed=retry_failed is not False,
                                retry_items=bool(retry_failed), allow_runner=allow_runner,
                                lease_s=lease_s, unit_timeout_s=unit_timeout,
                                recompute_stale=recompute_stale)
    except SpecError as e:
        _fail(str(e))
    except SpeechbudgetError:  # a StoreError (exit 4), a DatasetError (exit 3), ...
        raise
    except ValueError as e:
        _fail(str(e))
    if not progress:
        from speechbudget.sweep.progress import outcome_counts
        line(f"run {summary.run_id}: {outcome_counts(summary)}, {summary.reused} "
             f"already in {store}, {summary.shards_run} shards run in {summary.seconds:.1f} s")
    if summary.uncompared:  # racing could not compare some pairs in some round: say why
        why = next(iter(summary.uncompared.values()))
        line(f"{len(summary.uncompared)} pair(s) of configurations were not compared in a "
             f"racing round, e.g. {why}", err=True)
    # exit 1: configurations failed, or items did (a configuration whose every item failed is
    # stored as finished with a NaN metric; docs/security.md: "items or configurations failed")
    bad = [(c, m) for c, m in summary.metrics if m.n_failed]
    if bad:
        c, m = bad[0]
        line(f"{sum(m.n_failed for _, m in bad)} item(s) failed in {len(bad)} configuration(s), "
             f"e.g. {m.n_failed} in {c.label}: see `speechbudget runs show {store} {c.key}`",
             err=True)
    if summary.failures:  # one line naming one and where to read the rest (with --no-progress
        # nothing else named them)
        label, reason = next(iter(summary.failures.items()))
        err_line(f"{len(summary.failures)} configuration(s) failed, e.g. {label}: "
                 f"{one_line(reason)[:200]}; `speechbudget runs list {store}` lists them with "
                 "their reasons")
    if summary.failed or bad:
        raise typer.Exit(1)
