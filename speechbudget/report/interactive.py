"""Interactive pieces of the HTML report, still one offline file: Plotly figures with Plotly's
JavaScript embedded once (hover shows each configuration, zoom, a log/linear compute axis), and
a small script that makes every table sortable (click a header) and filterable (type in the box).

Needs `plotly` (pip install 'speechbudget[report]'); without it the report keeps its PNGs only.
"""
from __future__ import annotations

import json
from typing import Any

from speechbudget.analysis.pareto import COSTS, FrontierResult

TABLE_JS = """
document.querySelectorAll('table.sortable').forEach(function (t) {
  var head = t.tHead.rows[0].cells, body = t.tBodies[0];
  Array.prototype.forEach.call(head, function (th, i) {
    th.style.cursor = 'pointer'; th.title = 'sort';
    th.addEventListener('click', function () {
      var asc = th.dataset.sort !== 'asc'; th.dataset.sort = asc ? 'asc' : 'desc';
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[i].textContent, y = b.cells[i].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  if (body.rows.length < 8) return;   // a filter box only where there is something to filter
  var box = document.createElement('input');
  box.type = 'search'; box.placeholder = 'filter rows'; box.className = 'filter';
  box.addEventListener('input', function () {
    var q = box.value.toLowerCase();
    Array.prototype.forEach.call(body.rows, function (r) {
      r.style.display = r.textContent.toLowerCase().indexOf(q) >= 0 ? '' : 'none';
    });
  });
  t.parentNode.insertBefore(box, t);
});
"""


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


def pareto_figure(fr: FrontierResult, task: str, div_id: str) -> str:
    """An interactive Pareto plot: every configuration (hover: name, error, cost), the frontier
    as a line with its points labelled, buttons to switch the cost axis between log and linear."""
    import plotly.graph_objects as go
    wer = bool(fr.points) and fr.points[0].metrics.metric == "wer"
    k = 100.0 if wer else 1.0
    y_title = "WER (%)" if wer else "error (1 - UA)"
    x_title = COSTS.get(fr.cost, fr.cost)

    def trace(points, name, mode, color, text_labels):
        return go.Scatter(
            x=[p.cost for p in points], y=[k * p.error for p in points], name=name, mode=mode,
            text=[p.label for p in points] if text_labels else None, textposition="top center",
            cliponaxis=False,
            customdata=[[p.label, p.config.key] for p in points],
            marker={"size": 9, "color": color}, line={"color": color},
            hovertemplate="<b>%{customdata[0]}</b><br>" + y_title + " %{y:.3g}<br>" + x_title
                          + " %{x:.4g}<br>key %{customdata[1]}<extra>" + name + "</extra>")

    front = sorted(fr.frontier, key=lambda p: p.cost)
    fig = go.Figure([trace(fr.dominated, "dominated", "markers", "#999999", False),
                     trace(front, "Pareto frontier", "lines+markers+text", "#d62728", True)])
    positive = all(p.cost > 0 for p in fr.points)
    fig.update_layout(
        title=f"{task.upper()}: error against {x_title}", height=460, margin={"t": 60},
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
