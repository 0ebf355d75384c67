"""The interactive report: Plotly figures with inline JavaScript (offline), hover names each
configuration, a log/linear cost toggle, every frontier point labelled, sortable tables."""
from __future__ import annotations

import re

import pytest

from speechbudget.analysis.limits import Limits
from speechbudget.report import build_report

pytest.importorskip("plotly")

from speechbudget.report.interactive import figure_data  # noqa: E402


@pytest.fixture(scope="module")
def page(realistic_results, tmp_path_factory):
    out = tmp_path_factory.mktemp("interactive")
    return build_report(realistic_results, out, limits=Limits(max_gflops=40), n_bootstrap=4,
                        interactive=True)


def test_offline_single_file_with_plotly_inline(page):
    html = page.read_text()
    assert html.count("<script") >= 3 and not re.search(r"<script[^>]+src=", html)
    markup = re.sub(r"<script>.*?</script>", "", html, flags=re.S)   # the page outside the JS
    assert "<link" not in markup and not re.search(r"""(src|href)=["']https?:""", markup)
    assert "Plotly.newPlot" in html and 'id="pareto-asr-gflops"' in html
    assert "table.sortable" in html and 'class="sortable"' in html


def test_hover_names_every_configuration_and_frontier_is_labelled(page, realistic_results):
    html = page.read_text()
    start = html.index('id="pareto-asr-gflops"')
    traces = figure_data(html[start:])
    labels = {cd[0] for t in traces for cd in t["customdata"]}
    asr = {c.label for c, m in realistic_results if c.task == "asr" and m.gflops}
    assert labels == asr
    front = next(t for t in traces if t["name"] == "Pareto frontier")
    assert front["text"] == [cd[0] for cd in front["customdata"]]   # every point labelled
    assert "%{customdata[0]}" in front["hovertemplate"] and "WER (%)" in front["hovertemplate"]
    assert '"xaxis.type": "linear"' in html or '"xaxis.type":"linear"' in html


PROBE = """<script>
window.addEventListener('load', function () {
  setTimeout(function () {
    var g = document.getElementById('pareto-asr-gflops');
    var pts = g.querySelectorAll('.scatterlayer .point').length;
    var d = document.createElement('div'); d.id = 'probe';
    Plotly.Fx.hover(g, [{curveNumber: 1, pointNumber: 0}], 'xy');
    var label = g.querySelector('.hoverlayer').textContent;
    d.textContent = 'POINTS ' + pts + ' HOVER ' + label + ' END FIRST ' + g.data[1].customdata[0][0]
                    + ' ENDFIRST';
    document.body.appendChild(d);
  }, 500);
});
</script>"""


def test_renders_and_hovers_in_headless_chromium(page, tmp_path, headless):
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = headless("--virtual-time-budget=15000", "--dump-dom",
                   probe.as_uri(), capture_output=True, text=True, timeout=180).stdout
    m = re.search(r"POINTS (\d+) HOVER (.*?) END FIRST (.*?) ENDFIRST", dom, re.S)
    assert m, "the probe did not run (Plotly failed to load offline?)"
    assert int(m.group(1)) > 0                      # the points were drawn
    assert m.group(3) and m.group(3) in m.group(2)  # the hover label names the configuration
