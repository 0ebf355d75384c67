"""`speechbudget report STORE -o DIR`: plots, a Markdown summary, one self-contained HTML page."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from speechbudget.cli.app import app
from speechbudget.cli.errors import err_line
from speechbudget.cli.output import line
from speechbudget.cli.options import COST, RTF_STAT, TOLERANCE, int_option, limit_parser
from speechbudget.cli.recommend_cmd import limits_from, open_results, tolerance_from


@app.command("report")
def report_cmd(
    store: Path = typer.Argument(..., help="results store of a sweep (SQLite, e.g. runs.db)"),
    out: Path = typer.Option(..., "-o", "--out", help="output folder (index.html, summary.md, "
                                                      "report.json, plots/)"),
    max_gflops: Optional[float] = typer.Option(None, "--max-gflops",
                                               parser=limit_parser("--max-gflops"),
                                               help="limit for the recommendation at the top"),
    max_rtf: Optional[float] = typer.Option(None, "--max-rtf", parser=limit_parser("--max-rtf"),
                                            help="RTF limit (measured); which RTF: --rtf-stat"),
    rtf_stat: str = RTF_STAT,
    max_mem_mb: Optional[float] = typer.Option(None, "--max-mem-mb", help="peak memory limit",
                                               parser=limit_parser("--max-mem-mb")),
    task: Optional[str] = typer.Option(None, "--task", help="only this task (asr or ser)"),
    tolerance: Optional[float] = TOLERANCE,
    cost: str = COST,
    law: str = typer.Option("additive", "--law", help="scaling law: additive or product"),
    bootstrap: int = int_option(100, "--bootstrap", min=0,
                                help="bootstrap resamples for the fit's uncertainty"),
    seed: int = int_option(0, "--seed", min=0, help="seed of every bootstrap: the fit's and "
                                                     "the paired tests' (tie group, frontiers; "
                                                     "`recommend` uses 0)"),
    interactive: Optional[bool] = typer.Option(None, "--interactive/--static",
                                               help="Plotly figures and sortable tables (inline "
                                                    "JavaScript, offline); default: when plotly "
                                                    "is installed"),
    progress: bool = typer.Option(True, "--progress/--no-progress",
                                  help="a progress bar on stderr (bootstrap, fits, tests)"),
) -> None:
    """Write the report of a results store; prints the path of index.html."""
    from speechbudget.errors import check_output_dir
    from speechbudget.report.build import build_report

    check_output_dir(out, "--out")  # before any work

    if law not in ("additive", "product"):
        err_line(f"invalid --law {law!r}: additive or product", "error: ")
        raise typer.Exit(2)
    limits = limits_from(max_gflops, max_rtf, max_mem_mb, rtf_stat)
    margin = tolerance_from(tolerance, cost)   # the recommendation's, as `recommend` takes them
    loaded = open_results(store, task)
    if not loaded.results:
        err_line(f"{store}: no finished configurations"
                 + (f" for task {task!r}" if task else "") + " to report", "error: ")
        raise typer.Exit(2)
    if interactive is None:
        from speechbudget.report.interactive import available
        interactive = available()
    from speechbudget.cli.progress import progress_bar
    with progress_bar(progress, "report") as update:
        index = build_report(loaded, out, limits=limits, task=task, law=law,
                             tolerance=margin, cost=cost,
                             n_bootstrap=bootstrap, seed=seed, interactive=interactive,
                             progress=update)
    line(f"report: {index}")
