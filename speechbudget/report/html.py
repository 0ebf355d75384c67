"""One self-contained HTML page: images inlined as base64 data URIs, every string escaped."""
from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import Any, Iterable

from speechbudget.analysis.limits import Limits
from speechbudget.analysis.recommend import Recommendation
from speechbudget.analysis.recommend_text import (DECISION_RULE, describe_machine, error_cell,
                                                  error_head, fmt_cell, fmt_error,
                                                  fmt_error_change,
                                                  rtf_note)
from speechbudget.report.utterance_html import CSS as UTTERANCE_CSS, utterance_section
from speechbudget.report.model import (LATENCY_HEAD, STEP_DIRECTION, ReportData, TaskReport,
                                       delta_head, delta_scale, error_ci_cell, fewer_items_note,
                                       fit_units, has_latency, latency_cells,
                                       step_ci_cell)
from speechbudget.report.scripts import TABLE_JS

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1200px;color:#222;padding:0 16px}
h1{margin-bottom:4px} h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
.meta{color:#666;font-size:13px}
.rec{background:#eef6ee;border:1px solid #9c9;border-radius:6px;padding:12px 16px;margin:12px 0}
.rec.miss{background:#fbeeee;border-color:#d99}
.rec .answer{font-size:18px;font-weight:600}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4} td.l,th.l{text-align:left}
tr.front td{background:#fff7e6}
.pred{color:#7a4b00;font-style:italic}
img{max-width:100%;border:1px solid #eee;margin:6px 0}
.note{color:#555;font-size:13px}
input.filter{margin:6px 0;padding:3px 6px;font-size:13px;width:240px}
details summary{color:#555;font-size:13px;cursor:pointer}
tr.elim td{color:#666} td.why{text-align:left;max-width:640px}
table.refused td{color:#999} p.refused{color:#888}
""" + UTTERANCE_CSS


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _table(head: Iterable[str], rows: Iterable[Iterable[Any]], left: int = 1,
           row_class: Iterable[str] | None = None) -> str:
    head = list(head)
    out = ['<table class="sortable"><thead><tr>']
    out += [f'<th class="{"l" if i < left else ""}">{escape(h)}</th>' for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    classes = list(row_class) if row_class is not None else None
    for r, row in enumerate(rows):
        cls = f' class="{escape(classes[r])}"' if classes and classes[r] else ""
        out.append(f"<tr{cls}>" + "".join(
            f'<td class="{"l" if i < left else ""}">{escape(fmt_cell(v))}</td>'
            for i, v in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _recommendation(tr: TaskReport) -> str:
    rec = tr.recommendation
    cls = "rec" if rec.feasible else "rec miss"
    parts = [f'<div class="{cls}" id="recommendation-{escape(rec.task)}">',
             f'<div class="answer">{escape(rec.message)}</div>']
    metric = tr.metric
    k, _ = delta_scale(metric)      # WER: errors in percent, differences in WER points
    if rec.feasible:
        rows = [(c.label, fmt_error(m), error_ci_cell(m), m.gflops, m.rtf, m.peak_mem_mb)
                for c, m in [rec.best, *rec.runners_up]]
        parts.append(_table(["configuration", error_head(metric), error_head(metric) + " 95% CI",
                             "GFLOPs", "RTF", "peak MB"], rows,
                            row_class=["front"] + [""] * len(rec.runners_up)))
        parts.append(_tie_group(rec, {k: p.error_ci for k, p in tr.frontier_points().items()}))
        mrows = []
        for a in rec.marginal:
            for d, s in a.steps():
                mrows.append((f"{a.axis} {a.description}", STEP_DIRECTION[d], s.config.label,
                              s.flops_ratio, k * s.d_error, step_ci_cell(s, k),
                              k * s.per_doubling,
                              "yes" if s.feasible else "; ".join(v.describe()
                                                                 for v in s.violations)))
        if mrows:
            parts.append("<p><b>Marginal return of each axis</b> (measured neighbours that differ "
                         "only on that axis):</p>")
            parts.append(_table(["axis", "direction", "neighbour", "FLOPs ratio",
                                 delta_head(metric), "paired 95% CI of Δ",
                                 delta_head(metric, "Δ error per doubling"), "within limits"],
                                mrows, left=3))
        parts.append(f"<p><b>Binding knob:</b> {escape(rec.binding)}</p>")
    for n in rec.notes:
        parts.append(f'<p class="note">{escape(n)}</p>')
    parts.append(f'<p class="note">{escape(rtf_note(rec.machine))}</p></div>')
    return "".join(parts)


def _ci(metric: str, iv: tuple[float, float] | None) -> str:
    return "–" if iv is None else f"{error_cell(metric, iv[0])} to {error_cell(metric, iv[1])}"


def _tie_group(rec: Recommendation,
               error_ci: dict[str, tuple[float, float] | None]) -> str:
    """The decision rule's evidence: the most accurate configuration, every configuration the
    paired test cannot tell apart from it (or within the tolerance), each with its error's CI
    and the paired CI of its difference."""
    if not rec.paired:
        return ('<p class="note" id="tie-group-' + escape(rec.task) + '">No tie group: the '
                "results hold no per-item scores for every configuration, so no paired test "
                "was possible.</p>")
    pick = rec.best[0].key if rec.best else None
    metric = rec.tie_group[0].metrics.metric if rec.tie_group else "wer"
    k, _ = delta_scale(metric)
    rows, classes = [], []
    for t in rec.tie_group:
        d = t.diff
        role = t.reason + (" · recommended" if t.config.key == pick else "")
        rows.append((t.config.label, role, fmt_error(t.metrics),
                     _ci(metric, error_ci.get(t.config.key)),
                     "0 (reference)" if d is None else f"{k * d.diff:+.3g}",
                     "–" if d is None else d.ci_text(k),
                     t.metrics.n_items if d is None else d.n_items,
                     getattr(t.metrics, rec.cost)))
        classes.append("front" if t.config.key == pick else "")
    cost = {"gflops": "GFLOPs", "rtf": "RTF", "peak_mem_mb": "peak MB"}.get(rec.cost, rec.cost)
    tol = "" if rec.tolerance is None else f", tolerance {rec.tolerance:g}"
    out = [f'<div class="tie" id="tie-group-{escape(rec.task)}"><p><b>Tie group</b> '
           f"({len(rec.tie_group)} configuration{'s' if len(rec.tie_group) != 1 else ''}"
           f"{escape(tol)}): the most accurate within the limits and those the paired 95% test "
           "cannot tell apart from it.</p>",
           _table(["configuration", "in the group as", error_head(metric),
                   error_head(metric) + " 95% CI", delta_head(metric, "Δ error vs most accurate"),
                   "paired 95% CI of Δ", "items paired", cost],
                  rows, left=2, row_class=classes)]
    short = fewer_items_note(rec)
    if short:
        out.append(f'<p class="note">{escape(short)}</p>')
    if rec.items_to_resolve is not None and rec.difference is not None:
        out.append(f'<p class="note">About {rec.items_to_resolve} items would resolve a '
                   f"difference of {fmt_error_change(metric, abs(rec.difference.diff)).lstrip('+')}"
                   " between the recommended and "
                   "the most accurate configuration (paired variance, 80% power).</p>")
    out.append(f'<p class="note">Decision rule: {escape(DECISION_RULE)}.</p></div>')
    return "".join(out)


def _eliminated(tr: TaskReport) -> str:
    """Racing's stopped configurations, apart from the measured ones, with their evidence."""
    metric = tr.metric
    rows = [(e.label, e.n_items, e.n_failed, error_cell(metric, e.error), e.gflops, e.evidence,
             e.config.key) for e in tr.eliminated]
    head = ["configuration", "items scored", "failed", error_head(metric) + " on those items",
            "GFLOPs (analytic)", "evidence that eliminated it", "key"]
    out = [f'<h3 id="eliminated-{escape(tr.task)}">Eliminated by racing '
           f"({len(rows)})</h3>",
           '<p class="note">Stopped before seeing every item, each for the reason in its '
           "evidence: a paired significance test on the items both had scored (Bonferroni over "
           "rounds and rivals), or, with the race's halving rule, its rank by error on the items "
           "seen (dropped by rank: not shown worse). Their error is on fewer items, so they are "
           "not in the frontiers, the fit or the table above.</p>",
           '<table class="sortable elim"><thead><tr>'
           + "".join(f'<th class="{"l" if i in (0, 5, 6) else ""}">{escape(h)}</th>'
                     for i, h in enumerate(head)) + "</tr></thead><tbody>"]
    for r in rows:
        out.append('<tr class="elim">' + "".join(
            f'<td class="{"l" if i in (0, 6) else ("why" if i == 5 else "")}">'
            f"{escape(fmt_cell(v))}</td>" for i, v in enumerate(r)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _uncompared(tr: TaskReport) -> str:
    """Racing's pairs it could not compare, per surviving configuration: never tested
    against each other, so neither could stop the other."""
    out = [f'<h3 id="uncompared-{escape(tr.task)}">Racing: pairs not compared '
           f"({len(tr.uncompared)})</h3>",
           '<p class="note">A surviving configuration was never tested against these (no item '
           "both scored, or only items without reference words), so it was not stopped by "
           "them; it survived those comparisons for lack of evidence, not on it.</p>",
           '<table class="sortable uncompared"><thead><tr>'
           + "".join(f'<th class="l">{escape(h)}</th>' for h in
                     ("configuration (survived)", "not compared with", "round(s)", "why"))
           + "</tr></thead><tbody>"]
    for u in tr.uncompared:
        out.append("<tr>" + "".join(f'<td class="l">{escape(v)}</td>' for v in (
            u.survivor, u.other, ", ".join(str(r) for r in u.rounds), u.reason)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _comparison(tr: TaskReport) -> str:
    """The nested laws compared: which one is kept and why, every candidate's LOO error and BIC."""
    cmp_ = tr.comparison
    if cmp_ is None:
        return ""
    rows = []
    for c in cmp_.candidates:
        kept = cmp_.chosen is not None and c.fit is cmp_.chosen
        state = ("kept" if kept else "not fitted: " + (c.refused or "") if c.fit is None
                 else ("unidentified: " + ", ".join(c.fit.unidentified)
                       if c.fit.unidentified else "identified"))
        rows.append((c.formula, c.n_params,
                     None if c.loo_mape is None else f"{100 * c.loo_mape:.2g}%",
                     None if c.bic is None else float(f"{c.bic:.3g}"), state))
    return (f'<p id="fit-choice-{escape(tr.task)}"><b>Law kept:</b> '
            f"{escape(cmp_.reason)}</p>"
            + _table(["nested law", "parameters", "leave-one-out MAPE", "BIC", ""], rows,
                     row_class=["front" if r[4] == "kept" else "" for r in rows]))


def _fit(tr: TaskReport, limits: Limits) -> str:
    if tr.fit is None:
        return (f'<p class="note">No scaling fit: {escape(tr.fit_error or "")}</p>'
                + _comparison(tr))
    f = tr.fit
    k, unit = delta_scale(tr.metric)    # WER: the LOO error in WER points
    out = [f"<p>err = {escape(f.formula)} fitted to {len(f.y)} measured configurations "
           f"(Huber loss in log space, L-BFGS from a grid of starts).</p>",
           f'<p class="note" id="fit-units-{escape(tr.task)}">{escape(fit_units(tr.metric))}</p>',
           _comparison(tr)]
    if f.loo is not None:
        out.append(f'<p id="loo-{escape(tr.task)}"><b>Leave-one-configuration-out prediction '
                   f"error:</b> MAE {escape(fmt_cell(k * f.loo.mae, 3) + unit)}, MAPE "
                   f"{escape(f'{100 * f.loo.mape:.2g}')}%, RMSE(log) "
                   f"{escape(fmt_cell(f.loo.rmse_log, 3))}</p>")
    b = f.bootstrap
    rows = [(k + (" (unidentified)" if k in f.unidentified else ""), _sig(v),
             _sig(b.std[k]) if b else None, _sig(b.low[k]) if b else None,
             _sig(b.high[k]) if b else None) for k, v in f.params.items()]
    out.append(_table(["parameter", "value", "bootstrap std", "bootstrap 2.5%",
                       "bootstrap 97.5%"], rows))
    for n in f.notes:
        out.append(f'<p class="note">{escape(n)}</p>')
    if f.excluded:
        excl = ", ".join(f"{a} ({b})" for a, b in f.excluded)
        out.append(f'<p class="note">Not in the fit: {escape(excl)}</p>')
    if "fit" in tr.plots:
        out.append(_img(tr.plots["fit"], f"{tr.task} scaling fit"))
    if tr.predictions:
        cap = limits.max_gflops
        metric = tr.metric
        rows = [(p.config.label, error_cell(metric, p.error), error_cell(metric, p.low),
                 error_cell(metric, p.high), _sig(p.gflops),
                 "–" if cap is None or p.gflops is None else ("yes" if p.gflops <= cap else "no"))
                for p in tr.predictions]
        head = ["configuration (predicted)", "predicted " + error_head(metric),
                "bootstrap 2.5%", "bootstrap 97.5%", "GFLOPs (analytic)", "within GFLOPs limit"]
        if tr.prediction_refusal:
            out.append(f'<details id="predictions-{escape(tr.task)}-refused"><summary>'
                       f"Predictions for configurations NOT run are not to be used: "
                       f"{escape(tr.prediction_refusal)} (greyed, click to see)</summary>"
                       + _table(head, rows).replace('<table class="sortable">',
                                                    '<table class="sortable refused">')
                       + "</details>")
        else:
            out.append(f'<p class="pred" id="predictions-{escape(tr.task)}">Predicted by the '
                       "fit for configurations NOT run (not measurements):</p>")
            out.append(_table(head, rows))
            if limits.max_rtf is not None:
                out.append('<p class="note">RTF of predicted configurations is unknown until '
                           "they are run.</p>")
    return "".join(out)


def _sig(v: float | None) -> float | None:
    """2–3 significant figures for fitted values (they are not known better)."""
    return None if v is None else float(f"{v:.3g}")


def _task(tr: TaskReport, limits: Limits, interactive: bool = False) -> str:
    t = escape(tr.task)
    n = len(tr.results)
    out = [f'<h2 id="task-{t}">{t.upper()}: {n} configuration{"" if n == 1 else "s"}</h2>']
    out.append(f"<h3>Scaling-law fit</h3>{_fit(tr, limits)}")
    out.append("<h3>Pareto frontiers</h3>")
    for cost, fr in tr.frontiers.items():
        if interactive and fr.points:
            from speechbudget.report.interactive import pareto_figure
            out.append(pareto_figure(fr, tr.task, f"pareto-{t}-{escape(cost)}",
                                     tr.eliminated if cost == "gflops" else ()))
            if f"pareto_{cost}" in tr.plots:
                out.append("<details><summary>static image</summary>" + _img(
                    tr.plots[f"pareto_{cost}"], f"{tr.task} Pareto front: error vs {cost}")
                    + "</details>")
        elif f"pareto_{cost}" in tr.plots:
            out.append(_img(tr.plots[f"pareto_{cost}"], f"{tr.task} Pareto front: error vs {cost}"))
        rule = ("significant frontier: a configuration is dominated only when the paired 95% CI "
                "of the error difference shows it (noisy near-ties stay on the frontier)"
                if fr.rule == "significant" else "plain frontier")
        out.append(f'<p class="note" id="frontier-rule-{t}-{escape(cost)}">{escape(rule)}'
                   + "".join(f"; {escape(n)}" for n in fr.notes) + "</p>")
        skipped = tr.skipped_note(cost)
        if skipped:
            out.append(f'<p class="note">{escape(skipped)}</p>')
    if "isoflops" in tr.plots:
        out.append("<h3>Iso-FLOPs view</h3>" + _img(tr.plots["isoflops"], f"{tr.task} iso-FLOPs"))
        out.append(_table(["budget band", "configurations", "best",
                           "best " + error_head(tr.metric)],
                          [(b.label, len(b.points), b.best.config.label,
                            error_cell(tr.metric, b.best.error))
                           for b in tr.bands]))
    if "window_stride" in tr.plots:
        out.append("<h3>Window × stride</h3>" + _img(tr.plots["window_stride"],
                                                     f"{tr.task} window x stride heat map"))
    if "ser_duration" in tr.plots:
        out.append("<h3>Accuracy against clip duration</h3>"
                   + _img(tr.plots["ser_duration"], "SER UA vs duration"))
    flags = tr.frontier_points("gflops")
    lat = has_latency(tr.results)
    rows, classes = [], []
    for c, m in tr.measured:
        p = flags.get(c.key)
        # a bound not stored is '–' (fmt_error(m, None) is the error: a CI of zero width, and
        # for UA, 1 - UA beside the UA)
        rows.append((c.label, m.metric.upper(), fmt_error(m, m.value),
                     error_cell(m.metric, m.ci_low), error_cell(m.metric, m.ci_high), m.n_items,
                     m.n_failed, m.gflops, m.rtf, *(latency_cells(m) if lat else ()),
                     m.peak_mem_mb, tr.frontier_status(c), c.key))
        classes.append("front" if p is not None and not p.dominated else "")
    out.append(f'<h3 id="measured-{t}">All measured configurations</h3>')
    if lat:
        out.append('<p class="note">Latency: per utterance at batch size 1 after warm-up '
                   "(p50, p90); RTF is the batched throughput's.</p>")
    value = error_head(tr.metric, "value")
    out.append(_table(["configuration", "metric", value, "CI low", "CI high", "items", "failed",
                       "GFLOPs", "RTF", *(LATENCY_HEAD if lat else ()), "peak MB",
                       "frontier (GFLOPs)", "key"], rows, row_class=classes))
    if tr.eliminated:
        out.append(_eliminated(tr))
    if tr.uncompared:
        out.append(_uncompared(tr))
    if tr.utterances is not None:
        out.append(utterance_section(tr.utterances))
    elif tr.utterances_note:
        out.append(f'<p class="note" id="utterances-{t}-none">No per-utterance view: '
                   f"{escape(tr.utterances_note)}.</p>")
    return "".join(out)


def render_html(data: ReportData, interactive: bool = False) -> str:
    """The page, with sortable, filterable tables (a small inline script); `interactive` adds
    Plotly figures (their JavaScript inline too, so the file still works offline)."""
    from speechbudget.report import interactive as ia
    if interactive and not ia.available():
        raise ImportError("an interactive report needs plotly: pip install 'speechbudget[report]'")
    machine = describe_machine(data.machine) if data.machine else "not recorded"
    parts = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
             f"<title>{escape(data.title)}</title><style>{CSS}</style>",
             ia.plotly_script() if interactive else "", "</head><body>",
             f"<h1>{escape(data.title)}</h1>",
             f'<p class="meta">Source: {escape(data.source)} · limits: '
             f"{escape(data.limits.describe())} · machine: {escape(machine)}</p>",
             *(f'<p class="note left-out">{escape(n)}</p>' for n in data.left_out),
             '<section id="recommendation"><h2>Recommendation</h2>']
    parts += [_recommendation(tr) for tr in data.tasks]
    parts.append("</section>")
    parts += [f"<section>{_task(tr, data.limits, interactive)}</section>" for tr in data.tasks]
    parts.append(f"<script>{TABLE_JS}</script>")  # sortable, filterable tables (vanilla JS)
    parts.append("</body></html>")
    return "\n".join(parts)
