"""Interactive pieces of the HTML report, still one offline file: Plotly figures with Plotly's
JavaScript embedded once (hover shows each configuration and its 95% CI, error bars, zoom, a
log/linear compute axis); the tables' small script is report.scripts.

Needs `plotly` (pip install 'speechbudget[report]'); without it the report keeps its PNGs only.
"""
from __future__ import annotations

import json
from typing import Any, Sequence

from speechbudget.analysis.pareto import COSTS, FrontierResult
from speechbudget.report.eliminated import EliminatedConfig
from speechbudget.report.model import bars_are, dominance_text
from speechbudget.report.scripts import TABLE_JS

__all__ = ["TABLE_JS", "available", "figure_data", "pareto_figure", "plotly_script"]


def available() -> bool:
    try:
        import plotly  # noqa: F401 (optional dependency)
    except ImportError:
        return False
    return True


def plotly_script() -> str:
    """Plotly's JavaScript, inline (once per page)."""
    from plotly.offline import get_plotlyjs
    return f"<script>{get_plotlyjs()}</script>"


MAX_NAMED = 15     # frontier points named beside them on the interactive plot, at most


def pareto_figure(fr: FrontierResult, task: str, div_id: str,
                  eliminated: Sequence[EliminatedConfig] = ()) -> str:
    """An interactive Pareto plot: every configuration with its 95% CI as an error bar (hover:
    name, error and CI, cost), dominated ones grey, the frontier as a red line with its points
    labelled up to `MAX_NAMED` of them (a step line: the best error for a budget), racing's
    eliminated configurations as grey crosses (error on their items only), buttons to switch
    the cost axis between log and linear."""
    import plotly.graph_objects as go
    wer = bool(fr.points) and fr.points[0].metrics.metric == "wer"
    k = 100.0 if wer else 1.0
    y_title = "WER (%)" if wer else "error (1 - UA)"
    x_title = COSTS.get(fr.cost, fr.cost)

    bar_of = {b.key: b for b in fr.error_bars()}   # the 95 % CI of each error (analysis.pareto)

    def trace(points, name, mode, color, text_labels):
        bars = [bar_of[p.config.key] for p in points]
        lo = [k * max(0.0, b.error - b.low) if b.low is not None else 0.0 for b in bars]
        hi = [k * max(0.0, b.high - b.error) if b.high is not None else 0.0 for b in bars]
        ci = [f"{k * b.low:.3g} to {k * b.high:.3g}" if b.low is not None else "not recorded"
              for b in bars]
        status = [dominance_text(p) for p in points]
        return go.Scatter(
            x=[p.cost for p in points], y=[k * p.error for p in points], name=name, mode=mode,
            text=[p.label for p in points] if text_labels else None,
            textposition="top right",
            cliponaxis=False,
            customdata=[[p.label, p.config.key, c, st] for p, c, st in zip(points, ci, status)],
            error_y={"type": "data", "symmetric": False, "array": hi, "arrayminus": lo,
                     "color": color, "thickness": 1, "width": 3},
            marker={"size": 9, "color": color}, line={"color": color, "shape": "hv"},
            hovertemplate="<b>%{customdata[0]}</b><br>" + y_title + " %{y:.3g} (95% CI "
                          "%{customdata[2]})<br>" + x_title + " %{x:.4g}<br>%{customdata[3]}"
                          "<br>key %{customdata[1]}<extra>" + name + "</extra>")

    front = sorted(fr.frontier, key=lambda p: p.cost)
    # a name beside each frontier point while they can be read; more print over one another
    # (64 on a 324-configuration sweep): then the hover names them, and the title says so
    named = len(front) <= MAX_NAMED
    traces = [trace(fr.dominated, "dominated", "markers", "#999999", False),
              trace(front, "Pareto frontier", "lines+markers+text" if named else "lines+markers",
                    "#d62728", named)]
    elim = [e for e in eliminated if e.gflops and e.error is not None] if fr.cost == "gflops" \
        else []
    if elim:
        traces.append(go.Scatter(
            x=[e.gflops for e in elim], y=[k * e.error for e in elim], mode="markers",
            name="eliminated by racing", marker={"symbol": "x", "size": 9, "color": "#555555"},
            customdata=[[e.label, e.config.key, e.n_items] for e in elim],
            hovertemplate="<b>%{customdata[0]}</b> (eliminated by racing)<br>" + y_title
                          + " %{y:.3g} on its %{customdata[2]} items only<br>" + x_title
                          + " %{x:.4g}<extra></extra>"))
    fig = go.Figure(traces)
    rule = ("a point is dominated only when a paired 95% CI shows it" if fr.rule == "significant"
            else "plain frontier: dominance on the point estimates")
    positive = all(p.cost > 0 for p in fr.points)
    fig.update_layout(
        # the what-is-shown on its own smaller line: one line ran under the cost buttons
        title=f"{task.upper()}: error against {x_title}<br><span style='font-size:11px'>"
              f"{bars_are(fr.error_bars())}; {rule}"
              + ("" if named else f"; {len(front)} frontier points: hover names each")
              + "</span>",
        height=480, margin={"t": 80},
        xaxis={"title": x_title, "type": "log" if positive else "linear"},
        yaxis={"title": y_title}, hovermode="closest", template="plotly_white",
        updatemenus=[{"type": "buttons", "direction": "left", "x": 1.0, "xanchor": "right",
                      "y": 1.15, "buttons": [
                          {"label": "log cost", "method": "relayout",
                           "args": [{"xaxis.type": "log"}]},
                          {"label": "linear cost", "method": "relayout",
                           "args": [{"xaxis.type": "linear"}]}]}])
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def figure_data(html: str) -> list[dict[str, Any]]:
    """The traces embedded in a figure's HTML (for tests): Plotly.newPlot(id, DATA, ...)."""
    start = html.index("Plotly.newPlot(")
    decoder = json.JSONDecoder()
    rest = html[start + len("Plotly.newPlot("):].lstrip()
    _, end = decoder.raw_decode(rest)          # the div id string
    rest = rest[end:].lstrip(", \n")
    data, _ = decoder.raw_decode(rest)
    return data
