"""A configuration whose every item failed is named, with why, in summary.md as in index.html:
the 'not on the plot' note and its frontier cell in the measured table ('not on the frontier:
no error value (every item failed)', not a blank)."""
from __future__ import annotations

import math
import re
from html import unescape

from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.report import build_report
from speechbudget.sweep.store import ResultsStore

WHY = "no error value (every item failed)"


def _store(path):
    st = ResultsStore(path)
    run = st.start_run({"name": "fail"}, {"hostname": "test"})
    for w, bad in ((10.0, False), (20.0, False), (30.0, True)):
        c = Config(task="asr", model="tiny.en", window=w)
        st.register_config(c, w, {"dataset": "a"}, run)
        if bad:
            st.commit_shard(c.key, "s0", [ItemResult(f"u{i}", False, error="AudioError: bad")
                                          for i in range(6)], run)
            st.set_metrics(c.key, ConfigMetrics(c.key, "asr", "wer", math.nan, n_failed=6,
                                                gflops=w), run)
            continue
        items = [ItemResult(f"u{i}", True, prediction="a b", reference="a b c",
                            errors=1 + (i % 2) * int(w == 10), n_ref=10, audio_s=5.0)
                 for i in range(6)]
        st.commit_shard(c.key, "s0", items, run)
        wer = sum(x.errors for x in items) / 60
        st.set_metrics(c.key, ConfigMetrics(c.key, "asr", "wer", wer, n_items=6, gflops=w), run)
    st.finish_run(run)
    st.close()
    return path


def test_a_configuration_whose_every_item_failed_is_named_in_both(tmp_path):
    html = build_report(_store(tmp_path / "runs.db"), tmp_path / "r", n_bootstrap=0).read_text()
    md = unescape(re.sub(r"\\(.)", r"\1", (tmp_path / "r" / "summary.md").read_text()))
    note = f"Not on the gflops plot: tiny.en 30s ({WHY})"
    assert note in unescape(html) and note in md
    row = next(ln for ln in md.splitlines() if ln.startswith("| tiny.en 30s |"))
    assert row.rstrip(" |").endswith(f"not on the frontier: {WHY}")
    start = html.index('id="measured-asr"')
    table = html[start:html.index("</table>", start)]
    cells = next(re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr[^>]*>(.*?)</tr>",
                                                                              table)
                 if ">tiny.en 30s<" in r)
    assert unescape(cells[-2]) == f"not on the frontier: {WHY}"


def test_report_json_says_which_configuration_is_off_the_frontier_and_why(tmp_path):
    import json

    build_report(_store(tmp_path / "runs.db"), tmp_path / "r", n_bootstrap=0)
    rules = json.loads((tmp_path / "r" / "report.json").read_text())["tasks"][0]["frontier_rules"]
    assert [(s["label"], s["why"]) for s in rules["gflops"]["skipped"]] == [("tiny.en 30s", WHY)]
