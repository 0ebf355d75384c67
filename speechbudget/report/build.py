"""Assemble the report: analyses per task, plots, Markdown summary, one self-contained HTML page."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable

from speechbudget.analysis.isoflops import isoflops_bands
from speechbudget.analysis.pareto import FrontierResult, pareto_frontier, significant_frontier
from speechbudget.analysis.limits import Limits
from speechbudget.analysis.recommend import NoResultsError, recommend
from speechbudget.analysis.scaling_law import FitError
from speechbudget.analysis.scaling_predict import item_durations, predict_configs, unrun_grid
from speechbudget.analysis.scaling_results import fit_results_nested
from speechbudget.errors import OutputError, finite_json, make_output_dir, write_atomic
from speechbudget.records import ItemResult
from speechbudget.analysis.source import LoadedResults, load_results
from speechbudget.report import plots
from speechbudget.report.eliminated import load_eliminated, load_uncompared, stopped_note
from speechbudget.report.html import render_html
from speechbudget.report.markdown import render_markdown
from speechbudget.report.model import ReportData, Results, TaskReport
from speechbudget.report.utterances import utterance_view

__all__ = ["ReportData", "TaskReport", "analyse", "build_report", "make_plots", "task_frontiers",
           "to_json"]

MAX_PREDICTIONS = 40
COSTS = ("gflops", "rtf", "peak_mem_mb")
# progress(done, total, phase): called after each unit of work with increasing `done`
ReportProgress = Callable[[int, int, str], None]
PHASES_PER_TASK = 5  # recommendation, scaling fit (nested bootstrap), frontiers (paired tests),
#                      per-utterance view, plots; + 1 for writing the files
PLAIN_NOTE = ("plain frontier (dominance on the point estimates): the results hold no per-item "
              "scores, so no paired test could show which dominance is significant")


def task_frontiers(results: Results, items: dict[str, list[ItemResult]],
                   seed: int = 0) -> dict[str, FrontierResult]:
    """The frontier for each cost some configuration has: the significant one (paired 95 %)
    where per-item results exist, else the plain one with a note saying so."""
    paired = any(items.get(c.key) for c, _ in results)
    out = {}
    tested: dict = {}      # a pair's paired test is the same for every cost: made once
    for cost in COSTS:
        if paired:
            fr = significant_frontier(results, items, cost, level=0.95, seed=seed, tested=tested)
        else:
            fr = pareto_frontier(results, cost)
            fr.notes.append(PLAIN_NOTE)
        if fr.points:
            out[cost] = fr
    return out


def analyse(loaded: LoadedResults, limits: Limits, law: str = "additive",
            n_bootstrap: int = 100, seed: int = 0,
            progress: ReportProgress | None = None, total: int | None = None,
            tolerance: float | None = None, cost: str = "gflops") -> list[TaskReport]:
    """Run every analysis for each task present in the results. `progress(done, total, phase)`,
    if given, after each phase of each task (4 per task; `total` defaults to that count).
    `tolerance` (error units) and `cost`: the recommendation's, as `recommend` takes them."""
    out = []
    tasks = sorted({c.task for c, _ in loaded.results})
    total = total if total is not None else 4 * len(tasks)
    done = 0

    def step(phase: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, phase)

    for task in tasks:
        res = [(c, m) for c, m in loaded.results if c.task == task]
        # the same seed as the frontiers' paired tests: the tie group and the frontier test
        # some pairs alike, and one page must not call a pair both tied and dominated
        rec = recommend(res, limits, task=task, machine=loaded.machine, source=loaded.source,
                        items=loaded.items, seed=seed, tolerance=tolerance, cost=cost)
        step(f"{task}: recommendation")
        fit, fit_err, preds, cmp_, refusal = None, None, [], None, None
        try:
            cmp_ = fit_results_nested(res, law=law, n_bootstrap=n_bootstrap, seed=seed)
            fit = cmp_.chosen
            if fit is None:
                fit_err = cmp_.reason
            else:
                # unidentified or failing leave-one-out: predictions greyed with the reason
                refusal = fit.prediction_refusal()
                todo = unrun_grid(fit, res)[:MAX_PREDICTIONS]
                try:
                    preds = predict_configs(fit, todo, [c.key for c, _ in res],
                                            item_durations(loaded.items, fit.configs))
                except ValueError as e:
                    preds, refusal = [], refusal or str(e)
        except FitError as e:
            fit_err = str(e)
        step(f"{task}: scaling fit ({n_bootstrap} bootstrap resamples)")
        frontiers = task_frontiers(res, loaded.items, seed)
        step(f"{task}: frontiers (paired tests)")
        tr = TaskReport(task, res, rec, frontiers,
                        isoflops_bands(res), fit, fit_err, preds, comparison=cmp_,
                        prediction_refusal=refusal)
        tr.utterances, tr.utterances_note = utterance_view(task, rec.best, rec.runners_up,
                                                           loaded.items)
        if loaded.store_path is not None:
            tr.eliminated = load_eliminated(loaded.store_path, task)
            tr.uncompared = load_uncompared(loaded.store_path, task)
            note = stopped_note(tr.eliminated)
            if note:
                rec.notes.append(note)
        step(f"{task}: per-utterance view")
        out.append(tr)
    return out


def make_plots(tr: TaskReport, plot_dir: Path) -> None:
    t = tr.task
    for cost, fr in tr.frontiers.items():
        if fr.points:
            tr.plots[f"pareto_{cost}"] = plots.pareto_plot(
                fr, plot_dir / f"{t}_pareto_{cost}.png",
                eliminated=tr.eliminated if cost == "gflops" else ())
    if tr.bands:
        tr.plots["isoflops"] = plots.isoflops_plot(tr.bands, plot_dir / f"{t}_isoflops.png")
    if t == "asr":
        p = plots.heatmap_plot(tr.results, plot_dir / f"{t}_window_stride.png")
        if p:
            tr.plots["window_stride"] = p
    if t == "ser":
        p = plots.ser_duration_plot(tr.results, plot_dir / f"{t}_duration.png")
        if p:
            tr.plots["ser_duration"] = p
    if tr.fit is not None:
        tr.plots["fit"] = plots.fit_plot(tr.fit, plot_dir / f"{t}_fit.png", tr.metric)


def build_report(results: "Results | str | Path | LoadedResults", out_dir: str | Path,
                 limits: Limits | None = None, task: str | None = None, law: str = "additive",
                 n_bootstrap: int = 100, seed: int = 0,
                 title: str = "speechbudget report", interactive: bool = False,
                 progress: ReportProgress | None = None, tolerance: float | None = None,
                 cost: str = "gflops") -> Path:
    """Write `out_dir/index.html` (self-contained), `summary.md`, `report.json` and the PNGs.

    `results`: a list of (Config, ConfigMetrics) pairs, the path of a results store, or what
    `analysis.source.load_results` returned. `interactive`: Plotly
    figures and sortable, filterable tables, JavaScript inline (still one offline file; needs
    plotly). `progress(done, total, phase)`, if given, is called after each phase (per task:
    recommendation, scaling fit, frontiers, per-utterance view, plots; then writing), `done`
    increasing to `total`. `tolerance` (non-inferiority margin in error units: 0.005 = 0.5 WER
    points) and `cost` (gflops, rtf, peak_mem_mb): how the recommendation at the top chooses, as
    `analysis.recommend` takes them (`report --tolerance/--cost`, as `recommend`'s); with
    `limits.rtf_stat`, all recorded in report.json's limits. Prints nothing.
    Returns the path of index.html.
    """
    loaded = load_results(results, task=task)
    if not loaded.results:
        where = loaded.source + (f" for task {task!r}" if task else "")
        raise ValueError(f"no finished configurations in {where}: nothing to report")
    limits = limits or Limits()
    out = make_output_dir(out_dir, "report folder")
    n_tasks = len({c.task for c, _ in loaded.results})
    total = PHASES_PER_TASK * n_tasks + 1
    left_out = unreportable_tasks(loaded) if task is None and n_tasks > 1 else {}
    if left_out:   # a task whose every item failed: the others are reported, and say so
        loaded = LoadedResults([(c, m) for c, m in loaded.results if c.task not in left_out],
                               loaded.source, loaded.machine, loaded.machines, loaded.store_path,
                               loaded.items)
        n_tasks -= len(left_out)
        total = PHASES_PER_TASK * n_tasks + 1
    tasks = analyse(loaded, limits, law=law, n_bootstrap=n_bootstrap, seed=seed,
                    progress=progress, total=total, tolerance=tolerance, cost=cost)
    done = 4 * n_tasks
    try:  # each file written whole (temporary file, fsync, rename): a reader never sees half
        for tr in tasks:
            make_plots(tr, out / "plots")
            done += 1
            if progress is not None:
                progress(done, total, f"{tr.task}: plots")
        data = ReportData(title, loaded.source, loaded.machine, limits, tasks,
                          [f"{t.upper()} left out: {why}" for t, why in left_out.items()],
                          tolerance=tolerance, cost=cost)
        write_atomic(out / "summary.md", render_markdown(data, out))
        write_atomic(out / "report.json", json.dumps(finite_json(to_json(data, out)), indent=1,
                                                     default=_json_default, allow_nan=False))
        index = write_atomic(out / "index.html", render_html(data, interactive=interactive))
    except OSError as e:
        if isinstance(e, OutputError):
            raise
        raise OutputError(f"{out}: cannot write the report ({e.strerror or e}"
                          + (f": {e.filename}" if e.filename else "") + ")") from None
    if progress is not None:
        progress(total, total, "written")
    return index


def unreportable_tasks(loaded: LoadedResults) -> dict[str, str]:
    """Tasks of the results without one configuration of finite error (every item failed), with
    why: `recommend`'s NoResultsError, which names the failed items."""
    out = {}
    for t in sorted({c.task for c, _ in loaded.results}):
        res = [(c, m) for c, m in loaded.results if c.task == t]
        if not any(m.error is not None and math.isfinite(m.error) for _, m in res):
            try:
                recommend(res, task=t, source=loaded.source)
            except NoResultsError as e:
                out[t] = str(e)
    return out


def _json_default(v: Any) -> Any:
    if isinstance(v, Path):
        return str(v)
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def _finite(v: float | None) -> float | None:
    return v if v is None or math.isfinite(v) else None


def to_json(data: ReportData, out: Path | None = None) -> dict[str, Any]:
    """Machine-readable content of the report (measured and predicted kept apart); plot paths
    relative to the report folder `out` (as summary.md has them), so the folder can move."""
    tasks = []
    for tr in data.tasks:
        front = {cost: [{"label": p.config.label, "key": p.config.key, "cost": p.cost,
                         "error": p.error, "error_ci": p.error_ci, "dominated": p.dominated,
                         "dominated_by": p.dominated_by.key if p.dominated_by else None,
                         "evidence": None if p.evidence is None else {
                             "diff": p.evidence.diff, "ci_low": p.evidence.ci_low,
                             "ci_high": p.evidence.ci_high, "level": p.evidence.level,
                             "n_items": p.evidence.n_items,
                             "n_left_out": p.evidence.dropped}}
                        for p in fr.points] for cost, fr in tr.frontiers.items()}
        # skipped: the configurations left off that frontier and why (every item failed, no
        # cost), as the pages' 'Not on the ... plot' notes
        rules = {cost: {"rule": fr.rule, "level": fr.level, "notes": fr.notes,
                        "skipped": [{"label": c.label, "key": c.key, "why": why}
                                    for c, why in fr.skipped]}
                 for cost, fr in tr.frontiers.items()}
        tasks.append({
            "task": tr.task,
            "recommendation": tr.recommendation.to_dict(),
            # the README's convention, as `runs list --json`: WER as a fraction in
            # metrics.value, and in percent beside it (null for other metrics)
            "measured": [{"label": c.label, "config": c.to_dict(), "metrics": m.to_dict(),
                          "wer_percent": 100 * m.value if m.metric == "wer" else None}
                         for c, m in tr.results],
            "frontiers": front,
            "frontier_rules": rules,
            "isoflops": [{"lo": b.lo, "hi": b.hi, "best": b.best.config.label,
                          "curves": {k: {"values": v.values, "errors": v.errors,
                                         "optimum": v.optimum} for k, v in b.curves.items()}}
                         for b in tr.bands],
            "fit": tr.fit.to_dict() if tr.fit else None,
            "fit_comparison": tr.comparison.to_dict() if tr.comparison else None,
            "fit_error": tr.fit_error,
            "prediction_refusal": tr.prediction_refusal,
            "predicted": [{"label": p.config.label, "config": p.config.to_dict(),
                           "predicted_error": p.error, "low": p.low, "high": p.high,
                           "gflops": _finite(p.gflops), "predicted": True,
                           "shown": tr.prediction_refusal is None}
                          for p in tr.predictions],
            "plots": {k: os.path.relpath(v, out) if out is not None else str(v)
                      for k, v in tr.plots.items()},
            "eliminated": [{"label": e.label, "key": e.config.key, "gflops": e.gflops,
                            "n_items": e.n_items, "n_failed": e.n_failed,
                            "error_on_items_scored": e.error, "evidence": e.evidence}
                           for e in tr.eliminated],
            "racing_uncompared": [{"configuration": u.survivor, "not_compared_with": u.other,
                                   "rounds": list(u.rounds), "reason": u.reason}
                                  for u in tr.uncompared],
            "utterances": None if tr.utterances is None else {
                "recommended": tr.utterances.a.label, "runner_up": tr.utterances.b.label,
                "n_items": tr.utterances.n_items, "n_differ": tr.utterances.n_differ},
        })
    return {"title": data.title, "source": data.source, "machine": data.machine,
            "left_out": data.left_out,
            # what the recommendation was asked (recommend --json's limits, cost, tolerance)
            "limits": {**{k: getattr(data.limits, k) for k in ("max_gflops", "max_rtf",
                                                                "max_mem_mb", "rtf_stat")},
                       "tolerance": data.tolerance, "cost": data.cost},
            "tasks": tasks}
