"""The scaling fit's parameters are in the fit's units, not the tables': its err is a fraction
(WER 0.05 = 5 %) where the tables give WER in percent, so both pages say what err, N, T and s
are measured in, and the intervals which percentiles of what."""
from __future__ import annotations

import re
from html import unescape

from speechbudget.report import build_report

from tests.report.conftest import asr_results


def test_the_fit_says_its_units_in_both_pages(tmp_path):
    html = unescape(build_report(asr_results(), tmp_path, n_bootstrap=4, task="asr").read_text())
    md = unescape(re.sub(r"\\(.)", r"\1", (tmp_path / "summary.md").read_text()))
    assert "err = " in html and "err = " in md                      # a fit was made
    units = ("err: WER as a fraction (0.05 = 5%)", "N: model parameters",
             "T: input window (s)", "s: token stride")
    for page in (html, md):
        assert all(u in page for u in units)
    start = html.index("<thead>", html.index('id="loo-asr"'))
    head = re.findall(r"<th(?: [^>]*)?>(.*?)</th>", html[start:html.index("</tr>", start)])
    assert head == ["parameter", "value", "bootstrap std", "bootstrap 2.5%", "bootstrap 97.5%"]
