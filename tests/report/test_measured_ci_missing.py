"""The report's table of measured configurations shows a CI bound only where one was measured:
results without one (a list in memory, a store written without them) showed the value itself
as both bounds (a CI of zero width), and for UA the error 1 - UA beside the UA."""
from __future__ import annotations

import re
from html import unescape

from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics
from speechbudget.report.build import build_report


def _measured_rows(html: str, task: str) -> list[list[str]]:
    part = html[html.index(f'id="measured-{task}"'):]
    part = part[:part.index("</table>")]
    rows = []
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", part, flags=re.S):
        cells = [unescape(re.sub(r"<[^>]+>", "", c)).strip()
                 for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, flags=re.S)]
        if cells:
            rows.append(cells)
    return rows


def _pair(task, model, window, value, gflops, ci=(None, None)):
    c = Config(task=task, model=model, window=window)
    metric = "wer" if task == "asr" else "ua"
    return c, ConfigMetrics(c.key, task, metric, value, ci_low=ci[0], ci_high=ci[1],
                            n_items=20, gflops=gflops)


def test_no_ci_is_shown_as_none(tmp_path):
    results = [_pair("ser", "tiny", 4.0, 0.525, 4.0), _pair("ser", "base", 8.0, 0.575, 20.0),
               _pair("asr", "tiny.en", 10.0, 0.1133, 10.0),
               _pair("asr", "base", 10.0, 0.0867, 25.0, ci=(0.05, 0.12))]
    html = build_report(results, tmp_path / "r").read_text()
    ser = {r[0]: r for r in _measured_rows(html, "ser")}
    assert ser["tiny 4s"][2:5] == ["0.525", "–", "–"]
    asr = {r[0]: r for r in _measured_rows(html, "asr")}
    assert asr["tiny.en 10s"][2:5] == ["11.33", "–", "–"]
    assert asr["base 10s"][2:5] == ["8.67", "5.00", "12.00"]      # a measured CI is shown
