"""The interactive Pareto plot of a large sweep stays readable: frontier points are named beside
them only while few enough to be read (the hover names every one), and the title, on two lines,
does not run under the log/linear cost buttons."""
from __future__ import annotations

import re

import pytest

from speechbudget.analysis.pareto import pareto_frontier
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics

pytest.importorskip("plotly")

from speechbudget.report.interactive import (MAX_NAMED, figure_data,  # noqa: E402
                                             pareto_figure, plotly_script)


def _frontier(n: int):
    """n configurations, every one on the frontier (dearer ones better), stored CIs."""
    res = []
    for i in range(n):
        c = Config(task="asr", model="tiny.en", window=1.0 + 0.5 * i, stride=1)
        wer = 0.3 / (1 + 0.1 * i)
        res.append((c, ConfigMetrics(c.key, "asr", "wer", wer, ci_low=0.9 * wer,
                                     ci_high=1.1 * wer, n_items=50, gflops=5.0 * (1 + i))))
    return pareto_frontier(res)


def test_a_crowded_frontier_is_named_by_the_hover_only():
    many = _frontier(MAX_NAMED + 30)
    html = pareto_figure(many, "asr", "p")
    front = next(t for t in figure_data(html) if t["name"] == "Pareto frontier")
    assert "text" not in front["mode"] and not front.get("text")
    assert len(front["customdata"]) == MAX_NAMED + 30           # each still hover-named
    assert f"{MAX_NAMED + 30} frontier points: hover names each" in html
    few = _frontier(MAX_NAMED)
    front = next(t for t in figure_data(pareto_figure(few, "asr", "q"))
                 if t["name"] == "Pareto frontier")
    assert "text" in front["mode"] and front["text"] == [cd[0] for cd in front["customdata"]]


PROBE = """<script>
window.addEventListener('load', function () {
  setTimeout(function () {
    var g = document.getElementById('p');
    var t = g.querySelector('.gtitle').getBoundingClientRect();
    var b = g.querySelector('.updatemenu-container').getBoundingClientRect();
    var d = document.createElement('div'); d.id = 'probe';
    d.textContent = 'TITLE ' + [t.left, t.top, t.right, t.bottom].join(' ') + ' BUTTONS '
                    + [b.left, b.top, b.right, b.bottom].join(' ') + ' END';
    document.body.appendChild(d);
  }, 500);
});
</script>"""


def test_the_title_does_not_run_under_the_cost_buttons(tmp_path, headless):
    page = tmp_path / "p.html"
    page.write_text("<!DOCTYPE html><html><body>" + plotly_script()
                    + pareto_figure(_frontier(40), "asr", "p") + PROBE + "</body></html>")
    dom = headless("--virtual-time-budget=15000", "--window-size=1000,600", "--dump-dom",
                   page.as_uri(), capture_output=True, text=True, timeout=180).stdout
    m = re.search(r"TITLE (.*?) BUTTONS (.*?) END", dom)
    assert m, "the probe did not run (Plotly failed to load offline?)"
    tl, tt, tr, tb = map(float, m.group(1).split())
    bl, bt, br, bb = map(float, m.group(2).split())
    assert tr > tl and br > bl                                   # both drawn
    assert not (tl < br and bl < tr and tt < bb and bt < tb), (m.group(1), m.group(2))
