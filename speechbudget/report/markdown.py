"""The Markdown summary: recommendation, fit, frontiers, and every configuration (text only,
plots referenced by relative path)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from speechbudget.analysis.recommend_text import (describe_machine, error_cell, error_head,
                                                  fmt_cell, fmt_error, rtf_note)
from speechbudget.report.model import (LATENCY_HEAD, STEP_DIRECTION, ReportData, TaskReport,
                                       delta_head, delta_scale, error_ci_cell, fewer_items_note,
                                       fit_units, has_latency, latency_cells,
                                       step_ci_cell)


_MD_SPECIAL = "\\`*_{}[]()<>#+!|~$"     # $: GitHub renders $...$ as maths


def md_text(v: Any) -> str:
    """Text from a store (labels, machine names, messages) as inert Markdown: one line, every
    character that Markdown or HTML gives a meaning backslash-escaped (`<` and `&` as entities)."""
    s = " ".join(str(v).split())
    s = s.replace("&", "&amp;")
    out = "".join("\\" + c if c in _MD_SPECIAL and c not in "<>" else c for c in s)
    return out.replace("<", "&lt;").replace(">", "&gt;")


def _cell(v: Any) -> str:
    return md_text(fmt_cell(v))


def _table(head: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    head = list(head)
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_cell(v) for v in r) + " |" for r in rows]
    return out + [""]


def _task(tr: TaskReport, out_dir: Path) -> list[str]:
    rec = tr.recommendation
    metric = tr.metric
    k, _ = delta_scale(metric)      # WER: errors in percent, differences in WER points
    lines = [f"## {md_text(tr.task.upper())}", "", f"**{md_text(rec.message)}**", ""]
    if rec.feasible:
        lines += _table(["configuration", error_head(metric), error_head(metric) + " 95% CI",
                         "GFLOPs", "RTF", "peak MB"],
                        [(c.label, fmt_error(m), error_ci_cell(m), m.gflops, m.rtf,
                          m.peak_mem_mb)
                         for c, m in [rec.best, *rec.runners_up]])
        # as index.html's: the FLOPs ratio beside the change per doubling (a small step's
        # change, extrapolated to a doubling, reads large without it), and which limit a step
        # breaks
        lines += _table(["axis", "direction", "neighbour", "FLOPs ratio", delta_head(metric),
                         "paired 95% CI of Δ", delta_head(metric, "Δ error per doubling of FLOPs"),
                         "within limits"],
                        [(f"{a.axis} {a.description}", STEP_DIRECTION[d], s.config.label,
                          s.flops_ratio, k * s.d_error, step_ci_cell(s, k), k * s.per_doubling,
                          "yes" if s.feasible else "; ".join(v.describe() for v in s.violations))
                         for a in rec.marginal for d, s in a.steps()])
        if rec.paired:
            lines += ["Tie group (paired 95%: not told apart from the most accurate):", ""]
            lines += _table(["configuration", "in the group as", error_head(metric),
                             error_head(metric) + " 95% CI", delta_head(metric),
                             "paired 95% CI of Δ", "items paired"],
                            [(t.config.label, t.reason, fmt_error(t.metrics),
                              error_ci_cell(t.metrics),
                              "0" if t.diff is None else f"{k * t.diff.diff:+.3g}",
                              "–" if t.diff is None else t.diff.ci_text(k),
                              t.metrics.n_items if t.diff is None else t.diff.n_items)
                             for t in rec.tie_group])
            short = fewer_items_note(rec)
            lines += [f"_{md_text(short)}_", ""] if short else []
        lines += [f"Binding knob: {md_text(rec.binding)}", ""]
    lines += [f"_{md_text(n)}_" for n in rec.notes] + ([""] if rec.notes else [])
    lines += [f"_{md_text(rtf_note(rec.machine))}_", ""]
    if tr.fit is not None:
        f = tr.fit
        lines += ["### Scaling fit", "", f"`err = {f.formula}`: "
                  + ", ".join(f"{k} = {v:.3g}" + (" (unidentified)" if k in f.unidentified
                                                  else "") for k, v in f.params.items()), "",
                  f"_{md_text(fit_units(metric))}_", ""]
        if tr.comparison is not None:
            lines += [f"Law kept: {md_text(tr.comparison.reason)}", ""]
        lines += [f"_{md_text(n)}_" for n in f.notes] + ([""] if f.notes else [])
        if f.loo is not None:
            unit = delta_scale(metric)[1]
            lines += [f"Leave-one-configuration-out error: MAE {k * f.loo.mae:.3g}{unit}, "
                      f"MAPE {100 * f.loo.mape:.2g}%", ""]
        if tr.predictions and tr.prediction_refusal:
            lines += [f"Predictions for configurations not run are not shown: "
                      f"{md_text(tr.prediction_refusal)} (greyed in index.html).", ""]
        elif tr.predictions:
            lines += ["Predicted (not run, not measured):", ""]
            lines += _table(["configuration (predicted)",
                             "predicted " + error_head(metric), "bootstrap 2.5%",
                             "bootstrap 97.5%", "GFLOPs"],
                            [(p.config.label, error_cell(metric, p.error),
                              error_cell(metric, p.low), error_cell(metric, p.high),
                              _sig(p.gflops)) for p in tr.predictions])
    else:
        lines += [f"No scaling fit: {md_text(tr.fit_error)}", ""]
    for name, path in tr.plots.items():
        lines.append(f"![{tr.task} {name}]({os.path.relpath(path, out_dir)})")
    lines.append("")
    skipped = [tr.skipped_note(cost) for cost in tr.frontiers]
    lines += [f"_{md_text(n)}_" for n in skipped if n] + ([""] if any(skipped) else [])
    front = tr.frontiers.get("gflops")
    lat = has_latency(tr.results)
    lines += ["### All measured configurations", ""]
    if front is not None:
        rule = ("significant frontier (dominated only when the paired 95% CI shows it)"
                if front.rule == "significant" else "plain frontier")
        lines += [f"_Frontier (GFLOPs): {md_text(rule)}"
                  + "".join(f"; {md_text(n)}" for n in front.notes) + "_", ""]
    lines += _table(["configuration", "metric", error_head(metric, "value"), "CI low", "CI high",
                     "items", "failed", "GFLOPs", "RTF", *(LATENCY_HEAD if lat else ()),
                     "peak MB", "frontier (GFLOPs)"],
                    [(c.label, m.metric.upper(), fmt_error(m, m.value),
                      error_cell(m.metric, m.ci_low), error_cell(m.metric, m.ci_high), m.n_items,
                      m.n_failed, m.gflops, m.rtf, *(latency_cells(m) if lat else ()),
                      m.peak_mem_mb, tr.frontier_status(c))
                     for c, m in tr.measured])
    if tr.eliminated:
        lines += ["### Eliminated by racing (not on the frontiers)", ""]
        lines += _table(["configuration", "items scored",
                         error_head(metric) + " on those items", "evidence"],
                        [(e.label, e.n_items, error_cell(metric, e.error), e.evidence)
                         for e in tr.eliminated])
    if tr.uncompared:
        lines += ["### Racing: pairs not compared (neither could stop the other)", ""]
        lines += _table(["configuration (survived)", "not compared with", "round(s)", "why"],
                        [(u.survivor, u.other, ", ".join(str(r) for r in u.rounds), u.reason)
                         for u in tr.uncompared])
    if tr.utterances is not None:
        u = tr.utterances
        lines += [f"Per-utterance comparison of {md_text(u.a.label)} (recommended) and "
                  f"{md_text(u.b.label)} (runner-up): {u.n_items} items, {u.n_differ} differ "
                  "(in index.html).", ""]
    return lines


def _sig(v: float | None) -> float | None:
    return None if v is None else float(f"{v:.3g}")


def render_markdown(data: ReportData, out_dir: Path) -> str:
    machine = describe_machine(data.machine) if data.machine else "not recorded"
    lines = [f"# {md_text(data.title)}", "", f"Source: {md_text(data.source)}  ",
             f"Limits: {md_text(data.limits.describe())}  ",
             f"Machine: {md_text(machine)}", ""]
    lines += [f"_{md_text(n)}_\n" for n in data.left_out]
    for tr in data.tasks:
        lines += _task(tr, out_dir)
    return "\n".join(lines) + "\n"
