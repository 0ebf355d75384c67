"""The report: files, self-contained HTML, escaping, measured vs predicted, Chromium rendering."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from speechbudget.analysis.limits import Limits
from speechbudget.report import build_report

TITLE = 'Budget <script>alert("x")</script> & co'


@pytest.fixture(scope="module")
def report(realistic_results, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    index = build_report(realistic_results, out, limits=Limits(max_gflops=40, max_rtf=0.05),
                         n_bootstrap=8, title=TITLE)
    return index


def test_files_and_self_contained_html(report):
    out = report.parent
    html = report.read_text()
    assert {p.name for p in (out / "plots").iterdir()} >= {
        "asr_pareto_gflops.png", "asr_pareto_rtf.png", "asr_pareto_peak_mem_mb.png",
        "asr_isoflops.png", "asr_window_stride.png", "asr_fit.png", "ser_duration.png",
        "ser_pareto_gflops.png"}
    srcs = re.findall(r'src="([^"]*)"', html)
    assert len(srcs) >= 8 and all(s.startswith("data:image/png;base64,") for s in srcs)
    text = re.sub(r'src="data:image/png;base64,[^"]*"', "", html)  # base64 may spell anything
    assert "href=" not in text and "http" not in text and "<link" not in text
    # the recommendation comes before any plot
    assert html.index('id="recommendation"') < html.index("<img")
    assert 'id="loo-asr"' in html and "Leave-one-configuration-out" in html
    # strings are escaped
    assert "<script>alert" not in html
    assert "Budget &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in html


def test_recommendation_and_tables_in_the_page(report, realistic_results):
    html = report.read_text()
    # hand check: under 40 GFLOPs and RTF 0.05 the best ASR configuration is the one with the
    # lowest WER among those meeting both limits
    ok = [(c, m) for c, m in realistic_results if c.task == "asr" and m.gflops <= 40
          and m.rtf <= 0.05]
    best = min(ok, key=lambda cm: (cm[1].error, cm[1].gflops))[0]
    assert f"meet GFLOPs &lt;= 40, RTF &lt;= 0.05): {best.label}" in html
    for c, _ in realistic_results:  # every configuration is in a table
        assert f"<td class=\"l\">{c.label}</td>" in html
    assert "Pareto-optimal" in html and "dominated by" in html


def test_json_keeps_predicted_apart_from_measured(report):
    data = json.loads((report.parent / "report.json").read_text())
    asr = next(t for t in data["tasks"] if t["task"] == "asr")
    measured = {r["label"] for r in asr["measured"]}
    assert len(measured) == 18
    assert asr["fit"]["leave_one_out"]["mae"] > 0
    assert all(p["predicted"] is True and p["label"] not in measured for p in asr["predicted"])
    ser = next(t for t in data["tasks"] if t["task"] == "ser")
    assert ser["fit"] is None and "needs at least" in ser["fit_error"]
    md = (report.parent / "summary.md").read_text()
    assert "Leave-one-configuration-out error" in md and "## SER" in md


def test_empty_results_are_refused(tmp_path):
    with pytest.raises(ValueError, match="nothing to report"):
        build_report([], tmp_path)


CHECK = """<script>
window.addEventListener('load', function () {
  var imgs = Array.from(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var d = document.createElement('div');
  d.id = 'render-check';
  d.textContent = 'IMAGES ' + ok + '/' + imgs.length;
  document.body.appendChild(d);
});
</script>"""


def test_page_renders_in_headless_chromium(report, tmp_path, headless):
    from PIL import Image

    html = report.read_text()
    n_images = html.count("<img ")
    probe = tmp_path / "probe.html"  # the report plus a script that reports loaded images
    probe.write_text(html.replace("</body>", CHECK + "</body>"))
    dom = headless("--virtual-time-budget=10000", "--dump-dom",
                   probe.as_uri(), capture_output=True, text=True, timeout=120).stdout
    m = re.search(r"IMAGES (\d+)/(\d+)", dom)
    assert m, "the page's load handler did not run"
    assert int(m.group(1)) == int(m.group(2)) == n_images
    assert re.search(r'id="recommendation-asr">.*?Recommended asr configuration', dom, re.S)

    shot = tmp_path / "shot.png"
    headless(f"--screenshot={shot}", "--window-size=1200,1600",
             report.as_uri(), capture_output=True, timeout=120)
    img = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert img.shape[:2] == (1600, 1200)
    assert img.std() > 20  # not blank
    # the green recommendation box is drawn near the top
    top = img[: img.shape[0] // 3]
    green = (np.abs(top - [238, 246, 238]).sum(axis=2) < 6).mean()
    assert green > 0.05


def test_small_and_degenerate_results_still_give_a_report(tmp_path):
    from speechbudget.axes import Config
    from speechbudget.records import ConfigMetrics

    c1 = Config(task="asr", model="tiny.en", window=30.0)
    c2 = Config(task="asr", model="tiny.en", window=10.0)
    results = [(c1, ConfigMetrics(c1.key, "asr", "wer", 0.06, gflops=40.0, rtf=None)),
               (c2, ConfigMetrics(c2.key, "asr", "wer", None, gflops=15.0, rtf=0.02))]
    index = build_report(results, tmp_path, limits=Limits(max_rtf=0.1), n_bootstrap=0)
    html = index.read_text()
    assert "No scaling fit" in html and "no power law to fit" in html   # the nested fit's why
    # the only configuration with an error has no RTF: nothing meets the RTF limit
    assert "No asr configuration meets RTF &lt;= 0.1" in html and "RTF not measured" in html
    assert "tiny.en 10s (no error value (every item failed))" in html  # left off, with the reason


def _law_results(realistic, drop: int, exact: bool):
    """The 2 x 3 x 3 ASR grid of the realistic results minus configuration `drop`; with
    `exact` its WER follows err = 0.03 + 0.5 / T + 0.01 s exactly (a law the fit recovers)."""
    import dataclasses

    out = []
    for i, (c, m) in enumerate([(c, m) for c, m in realistic if c.task == "asr"]):
        if i == drop:
            continue
        if exact:
            wer = 0.03 + 0.5 / float(c.window) + 0.01 * c.stride
            m = dataclasses.replace(m, value=wer, ci_low=0.8 * wer, ci_high=1.2 * wer)
        out.append((c, m))
    return out


def test_nested_fit_law_and_reason_and_greyed_predictions(realistic_results, tmp_path):
    res = _law_results(realistic_results, drop=4, exact=False)        # LOO error above the 10% threshold
    html = build_report(res, tmp_path, n_bootstrap=0).read_text()
    data = json.loads((tmp_path / "report.json").read_text())
    asr = data["tasks"][0]
    reason = asr["fit_comparison"]["reason"]
    assert reason.startswith("kept ") and "leave-one-configuration-out MAPE" in reason
    choice = html[html.index('id="fit-choice-asr"'):]
    assert "Law kept:" in choice and f"kept {asr['fit']['formula']}" in choice
    assert asr["prediction_refusal"] and "above the 10% threshold" in asr["prediction_refusal"]
    assert len(asr["predicted"]) == 1 and asr["predicted"][0]["shown"] is False
    grey = html[html.index('id="predictions-asr-refused"'):]
    assert "not to be used" in grey and 'class="sortable refused"' in grey
    assert asr["predicted"][0]["label"] in grey
    assert 'id="predictions-asr"' not in html


def test_nested_fit_predictions_shown_when_the_rules_allow(realistic_results, tmp_path):
    res = _law_results(realistic_results, drop=4, exact=True)
    html = build_report(res, tmp_path, n_bootstrap=0).read_text()
    asr = json.loads((tmp_path / "report.json").read_text())["tasks"][0]
    assert asr["prediction_refusal"] is None, asr["fit_comparison"]["reason"]
    p = asr["predicted"][0]
    assert p["shown"] is True
    c = p["config"]
    assert p["predicted_error"] == pytest.approx(0.03 + 0.5 / c["window"] + 0.01 * c["stride"],
                                                 rel=0.05)
    assert 'id="predictions-asr"' in html and "predictions-asr-refused" not in html
