"""`speechbudget recommend STORE --max-gflops G --max-rtf R`: the best measured configuration
under the limits, the runners-up, and which knob is binding."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

# WER in percent, and other values' cells ('–' for none), as the report shows them
from speechbudget.analysis.recommend_text import fmt_cell as fmt, fmt_error
from speechbudget.cli.app import app
from speechbudget.cli.errors import err_line
from speechbudget.cli.options import COST, RTF_STAT, TOLERANCE, int_option, limit_parser
from speechbudget.cli.output import console as out_console, inert

console = out_console()   # stored text shown as it is, lines never folded (cli/output.py)


def open_results(store: Path, task: Optional[str]):
    """Load a store for a command; a missing or foreign file exits 4 with the reason, as do
    stored items the paired tests cannot compare (load_results' check), a --task that is no
    task 2 (it read as 'no finished configurations')."""
    from speechbudget.analysis.source import load_results
    from speechbudget.axes import TASKS
    from speechbudget.sweep.store import StoreError
    if task is not None and task not in TASKS:
        raise typer.BadParameter(f"{task!r}: expected one of {', '.join(TASKS)}",
                                 param_hint="--task")
    try:
        loaded = load_results(store)
    except FileNotFoundError as e:  # a StoreError propagates: exit 4
        raise StoreError(str(e) if e.strerror is None else
                         f"{store}: no such results store ({e.strerror})") from None
    tasks = sorted({c.task for c, _ in loaded.results})
    if task is not None and tasks and task not in tasks:   # say what the store holds
        usage_error(f"{store}: no finished configurations for task {task!r} (it has: "
                    f"{', '.join(tasks)})")
    return load_results(loaded, task=task)


def usage_error(message: str) -> None:
    """One line on stderr and exit 2 (a bad option value)."""
    err_line(message, "error: ")
    raise typer.Exit(2)


def limits_from(max_gflops, max_rtf, max_mem_mb, rtf_stat: str = "mean"):
    """The limits of --max-gflops/--max-rtf/--max-mem-mb/--rtf-stat; a bad one exits 2 naming
    the option as typed (Limits' own error names its field: max_gflops=...)."""
    from speechbudget.analysis.limits import RTF_STATS, Limits
    for option, v in (("--max-gflops", max_gflops), ("--max-rtf", max_rtf),
                      ("--max-mem-mb", max_mem_mb)):
        if v is not None and not (math.isfinite(v) and v > 0):
            usage_error(f"invalid {option} {v:g}: a finite number > 0 (or leave it out)")
    if rtf_stat not in RTF_STATS:
        usage_error(f"invalid --rtf-stat {rtf_stat!r}: one of {', '.join(RTF_STATS)}")
    try:
        return Limits(max_gflops=max_gflops, max_rtf=max_rtf, max_mem_mb=max_mem_mb,
                      rtf_stat=rtf_stat)
    except ValueError as e:
        usage_error(str(e))


def tolerance_from(tolerance: float | None, cost: str) -> float | None:
    """--tolerance (points of the metric) as the margin `recommend` takes (error units: 0.5 ->
    0.005), after checking it and --cost; a bad one exits 2 naming the option as typed."""
    from speechbudget.analysis.recommend_text import COST_WORDS
    if tolerance is not None and not (math.isfinite(tolerance) and 0 <= tolerance < 100):
        usage_error(f"invalid --tolerance {tolerance:g}: points of the metric, >= 0 and below 100 "
                    "(0.5 = 0.5 WER points)")
    if cost not in COST_WORDS:
        usage_error(f"invalid --cost {cost!r}: one of {', '.join(COST_WORDS)}")
    return None if tolerance is None else tolerance / 100


@app.command("recommend")
def recommend_cmd(
    store: Path = typer.Argument(..., help="results store of a sweep (SQLite, e.g. runs.db)"),
    max_gflops: Optional[float] = typer.Option(None, "--max-gflops",
                                               parser=limit_parser("--max-gflops"),
                                               help="limit on inference GFLOPs per item"),
    max_rtf: Optional[float] = typer.Option(None, "--max-rtf",
                                            parser=limit_parser("--max-rtf"),
                                            help="limit on the real-time factor measured by the "
                                                 "sweep (s of compute per s of audio); which "
                                                 "RTF: --rtf-stat"),
    rtf_stat: str = RTF_STAT,
    max_mem_mb: Optional[float] = typer.Option(None, "--max-mem-mb",
                                               parser=limit_parser("--max-mem-mb"),
                                               help="limit on measured peak memory (MB)"),
    task: Optional[str] = typer.Option(None, "--task", help="asr or ser (needed when the store "
                                                            "holds both)"),
    top: int = int_option(3, "--top", min=0, help="runners-up to list"),
    tolerance: Optional[float] = TOLERANCE,
    cost: str = COST,
    as_json: bool = typer.Option(False, "--json", help="print the answer as JSON"),
) -> None:
    """The configuration to use under the limits: the cheapest that is not significantly worse
    than the most accurate (paired bootstrap 95%), or within --tolerance of it; with the tie
    group, the CI of the difference, runners-up and the marginal return of each axis.
    Exits 1 when no configuration meets the limits."""
    from speechbudget.analysis.recommend import NoResultsError, recommend

    limits = limits_from(max_gflops, max_rtf, max_mem_mb, rtf_stat)
    margin = tolerance_from(tolerance, cost)
    loaded = open_results(store, task)  # items that cannot be paired: StoreError (exit 4) there
    try:
        rec = recommend(loaded.results, limits, task=task, n_runners_up=top,
                        machine=loaded.machine, source=str(store), items=loaded.items,
                        tolerance=margin, cost=cost)
    except (NoResultsError, ValueError) as e:
        err_line(str(e), "error: ")
        raise typer.Exit(2)
    if loaded.store_path is not None:       # a race's stopped configurations are not considered
        from speechbudget.report.eliminated import load_eliminated, stopped_note
        note = stopped_note(load_eliminated(loaded.store_path, rec.task))
        if note:
            rec.notes.append(note)
    if as_json:
        from speechbudget.errors import finite_json
        typer.echo(json.dumps(finite_json(rec.to_dict()), indent=1, default=str,
                              allow_nan=False))
        raise typer.Exit(0 if rec.feasible else 1)
    print_recommendation(rec)
    raise typer.Exit(0 if rec.feasible else 1)


def print_recommendation(rec) -> None:
    from speechbudget.analysis.recommend_text import COST_WORDS, rtf_note

    console.print(f"[bold {'green' if rec.feasible else 'red'}]{inert(rec.message)}[/]")
    if rec.feasible:
        t = Table(title="the answer and runners-up")
        wer = rec.best[1].metric == "wer"
        pairs = [rec.best, *rec.runners_up]
        latency = any(m.rtf_p90 is not None for _, m in pairs)
        for col in ("", "configuration", "WER %" if wer else "error", "GFLOPs", "RTF",
                    *(("RTF p50 / p90 (batch 1)",) if latency else ()), "peak MB", "key"):
            t.add_column(col)
        for i, (c, m) in enumerate(pairs):
            lat = (f"{fmt(m.rtf_p50)} / {fmt(m.rtf_p90)}",) if latency else ()
            t.add_row("answer" if i == 0 else str(i + 1), inert(c.label), fmt_error(m),
                      fmt(m.gflops), fmt(m.rtf), *lat, fmt(m.peak_mem_mb), inert(c.key))
        console.print(t)
        if rec.paired:
            t = Table(title="tie group (vs the most accurate, paired 95% CI of the error "
                            "difference)")
            # the unit of the answer table: WER in percent, differences in WER points
            k, unit = (100, " (WER points)") if wer else (1, "")
            cost = COST_WORDS.get(rec.cost, rec.cost)
            for col in ("configuration", "WER %" if wer else "error", cost, f"Δ error{unit}",
                        "95% CI", "why"):
                t.add_column(col)
            for m in rec.tie_group:
                d = m.diff
                t.add_row(inert(m.config.label)
                          + (" ←" if m.config.key == rec.best[0].key else ""),
                          fmt_error(m.metrics), fmt(getattr(m.metrics, rec.cost)),
                          "–" if d is None else f"{k * d.diff:+.3g}",
                          "–" if d is None else d.ci_text(k),
                          inert(m.reason))
            console.print(t)
        t = Table(title="marginal return per axis (measured neighbours)")
        k, unit = (100, " (WER points)") if wer else (1, "")
        for col in ("axis", "direction", "neighbour", "FLOPs ×", f"Δ error{unit}",
                    "95% CI (paired)", f"Δ error / doubling{unit}", "within limits"):
            t.add_column(col)
        for a in rec.marginal:
            for d, s in a.steps():
                ci = "–" if s.difference is None else s.difference.ci_text(k)
                rate = f"{k * s.per_doubling + 0.0:+.4g}" if s.rated else "–"  # too close in cost
                t.add_row(inert(f"{a.axis} {a.description}"), inert(d), inert(s.config.label),
                          f"{s.flops_ratio:.3g}", f"{k * s.d_error + 0.0:+.4g}", inert(ci), rate,
                          "yes" if s.feasible else
                          inert("; ".join(v.describe() for v in s.violations)))
        console.print(t)
        console.print(f"binding: {inert(rec.binding)}")
    for n in rec.notes:
        console.print(f"[dim]note: {inert(n)}[/dim]")
    console.print(f"[dim]{inert(rtf_note(rec.machine))}[/dim]")
