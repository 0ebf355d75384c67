"""`speechbudget sweep plan|run SPEC`: plan a sweep (configurations, FLOPs, time) or run it."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from speechbudget.cli.app import app

sweep_app = typer.Typer(help="Plan and run sweeps over model size, window, stride, adaptation.",
                        no_args_is_help=True)
app.add_typer(sweep_app, name="sweep")


def _fail(msg: str) -> None:
    from rich.markup import escape
    Console(stderr=True).print(f"[red]error:[/red] {escape(msg)}")
    raise typer.Exit(2)


@sweep_app.command("plan")
def plan_cmd(spec: Path = typer.Argument(..., help="sweep file (YAML)"),
             data: Optional[str] = typer.Option(None, help="dataset (overrides the spec's)"),
             store: Optional[Path] = typer.Argument(None, help="results store: use its past "
                                                    "runs for the time estimate"),
             store_opt: Optional[Path] = typer.Option(None, "--store", hidden=True,
                                                      help="old spelling of STORE"),
             as_json: bool = typer.Option(False, "--json", help="print the plan as JSON"),
             audio_s: Optional[float] = typer.Option(None, help="item length for FLOPs (s); "
                                                                "default: the dataset's mean")
             ) -> None:
    """Print the configurations, their FLOPs and an estimated run time; runs nothing."""
    from speechbudget.sweep.plan import estimate_seconds, plan_configurations, throughput
    from speechbudget.sweep.spec import SpecError, load_spec
    from speechbudget.sweep.store import ResultsStore
    store = store or store_opt
    try:
        s = load_spec(spec, data=data)
    except SpecError as e:
        _fail(str(e))
    n_items, mean_s = _dataset_size(s)
    p = plan_configurations(s, audio_s=audio_s or mean_s)
    st = ResultsStore(store, readonly=True) if store else None  # a StoreError is exit 4
    tp = throughput(st)
    status = {r["key"]: r["status"] for r in st.configs()} if st else {}
    if as_json:
        import json
        rows = [{"label": c.label, "key": c.key, "config": c.to_dict(),
                 "gflops": p.gflops.get(c.key),
                 "estimated_s": estimate_seconds(p.gflops.get(c.key), n_items, tp),
                 "budgets_gflops": p.bands.get(c.key, []), "in_store": status.get(c.key)}
                for c in p.configs]
        typer.echo(json.dumps({"name": s.name, "plan": s.plan.type, "items": n_items,
                               "space_size": p.space_size, "configs": rows,
                               "gflops_per_s": tp.gflops_per_s, "throughput_source": tp.source,
                               "invalid": [{"values": inv.values, "field": inv.error.field,
                                            "error": str(inv.error)} for inv in p.invalid]},
                              indent=1, default=str))
        return
    t = Table(title=f"{s.name}: {s.plan.type} plan, {len(p.configs)} configurations "
                    f"(of {p.space_size} valid in the joint space), {n_items or '?'} items")
    for col in ("#", "configuration", "key", "GFLOPs/item", "est. time"):
        t.add_column(col, justify="left" if col in ("configuration", "key") else "right")
    if s.plan.type == "iso_flops":
        t.add_column("budget (GFLOPs)", justify="right")
    if st:
        t.add_column("in store")
    total = 0.0
    for i, c in enumerate(p.configs, 1):
        g = p.gflops.get(c.key)
        sec = estimate_seconds(g, n_items, tp)
        if status.get(c.key) != "done":
            total += sec or 0.0
        row = [str(i), c.label, c.key, "n/a" if g is None else f"{g:.2f}", _dur(sec)]
        if s.plan.type == "iso_flops":
            row.append(", ".join(f"{b:g}" for b in p.bands.get(c.key, [])))
        if st:
            row.append(status.get(c.key, "-"))
        t.add_row(*row)
    Console().print(t)
    if s.plan.type == "adaptive":
        n = min(s.plan.n_trials, len(p.configs))
        Console().print(f"adaptive ({s.plan.sampler}): evaluates {n} of these {len(p.configs)} "
                      f"configurations, minimising {' and '.join(s.plan.objectives)}")
        total = total * n / max(1, len(p.configs))
    length = f"{p.audio_s:.1f} s" if p.audio_s else "window length"
    left = " (configurations not done in the store)" if st else ""
    Console().print(f"estimated run time{left} {_dur(total)} at {tp.gflops_per_s:.1f} GFLOP/s "
                    f"({tp.source}; FLOPs for items of {length})")
    if p.invalid:
        Console().print(f"[yellow]{len(p.invalid)} combinations are not valid configurations "
                      f"and are skipped:[/yellow]")
        for inv in p.invalid[:20]:
            vals = ", ".join(f"{k}={v}" for k, v in inv.values.items()
                             if k in ("model", inv.error.field.split(".")[0]))
            Console().print(f"  {vals}: [yellow]{inv.error.field}[/yellow]: {inv.error}")
        if len(p.invalid) > 20:
            Console().print(f"  ... and {len(p.invalid) - 20} more")


def _dataset_size(spec) -> tuple[int | None, float | None]:
    """Items and mean duration, when the task can read the dataset quickly."""
    if spec.data is None:
        return None, None
    if spec.runner:  # a plan runs nothing: a custom task's code is never imported here
        Console().print(f"runner {spec.runner} (not imported by plan; `sweep run` needs "
                        "--allow-runner): dataset size unknown")
        return None, None
    try:
        from speechbudget.sweep.executors import TaskRef, build_task
        import json
        task = build_task(TaskRef(spec.task, json.dumps(spec.task_options), spec.data,
                                  spec.runner))
        items = list(task.load_dataset(spec.data).items)
    except Exception as e:  # noqa: BLE001 (the plan still prints without a size)
        Console().print(f"[yellow]could not read the dataset {spec.data}: {e}[/yellow]")
        return None, None
    d = [getattr(i, "duration_s", None) or getattr(i, "audio_s", None) for i in items]
    return len(items), (sum(d) / len(d) if d and all(d) else None)


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
            workers: Optional[int] = typer.Option(None, min=1, help="processes / Ray actors"),
            data: Optional[str] = typer.Option(None, help="dataset (overrides the spec's)"),
            device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:1 ... (default: "
                                                            "cuda if present)"),
            retries: int = typer.Option(2, min=0, help="retries of a unit whose worker died"),
            no_retry_failed: bool = typer.Option(False, "--no-retry-failed",
                                                 help="do not retry shards that failed before"),
            progress: bool = typer.Option(True, help="progress bars and summary table"),
            allow_runner: bool = typer.Option(False, "--allow-runner",
                                              help="allow the spec's `runner` (imports and runs "
                                                   "code from the file or module it names)"),
            lease_s: float = typer.Option(300.0, "--lease-s", min=0.1,
                                          help="seconds before a shard claimed by a runner that "
                                               "died can be taken by another runner")
            ) -> None:
    """Run a sweep into a store (or resume it): only what is missing is computed."""
    from speechbudget.machine import default_device
    from speechbudget.sweep.run import run_sweep
    from speechbudget.errors import SpeechbudgetError
    from speechbudget.sweep.spec import SpecError, load_spec
    device = device or default_device()
    store = store or store_opt
    if store is None:
        _fail("give the results store: speechbudget sweep run SPEC STORE")
    try:
        s = load_spec(spec, data=data)
        summary = run_sweep(s, store, executor=executor, address=address, progress=progress,
                            device=device, workers=workers, max_retries=retries,
                            retry_failed=not no_retry_failed, allow_runner=allow_runner,
                            lease_s=lease_s)
    except SpecError as e:
        _fail(str(e))
    except SpeechbudgetError:  # a StoreError (exit 4), a DatasetError (exit 3), ...
        raise
    except ValueError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        Console(stderr=True).print(f"[yellow]interrupted[/yellow]: finished shards are in {store}; "
                                   "run the same command again to resume")
        raise typer.Exit(130)
    if not progress:
        Console().print(f"run {summary.run_id}: {summary.finished} finished, {summary.failed} "
                      f"failed, {summary.reused} already in {store}, {summary.shards_run} shards "
                      f"run in {summary.seconds:.1f} s")
    if summary.failed:
        raise typer.Exit(1)
