"""The report's predicted configurations carry GFLOPs per item, as the measured ones and the
per-item --max-gflops limit: the "within GFLOPs limit" column compared one window's estimate
with the limit before (small 5 s on 14 s items: 3 windows per item, shown within a limit that
its per-item cost breaks)."""
from __future__ import annotations

import itertools
import json

from speechbudget.analysis.limits import Limits
from speechbudget.analysis.scaling_results import n_params
from speechbudget.analysis.source import LoadedResults
from speechbudget.axes import Config
from speechbudget.flops import estimate
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.report.build import build_report

DURATIONS = {"u1": 14.0, "u2": 14.0, "u3": 6.0, "u4": 25.0}


def loaded() -> LoadedResults:
    results, items = [], {}
    for model, w, s in itertools.product(["tiny.en", "base", "small"], [5.0, 10.0, 20.0],
                                         [1, 2, 4]):
        if (model, w) == ("small", 5.0):
            continue  # not run: predicted
        c = Config(task="asr", model=model, window=w, stride=s)
        err = 0.02 + 3.0 * n_params(model) ** -0.25 * w ** -0.4 * s ** 0.5
        results.append((c, ConfigMetrics(c.key, "asr", "wer", err, n_items=len(DURATIONS),
                                         gflops=1.0)))
        items[c.key] = [ItemResult(i, True, errors=1, n_ref=20, audio_s=d)
                        for i, d in DURATIONS.items()]
    return LoadedResults(results, "constructed", items=items)


def test_predicted_gflops_are_per_item_and_checked_per_item_against_the_limit(tmp_path):
    c = Config(task="asr", model="small", window=5.0)
    one_window = estimate(c).gflops
    per_item = sum(estimate(c, audio_s=d).gflops for d in DURATIONS.values()) / len(DURATIONS)
    cap = (one_window + per_item) / 2         # one window is within it, an item is not
    index = build_report(loaded(), tmp_path / "r", limits=Limits(max_gflops=cap),
                         law="product", n_bootstrap=0)
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    (task,) = data["tasks"]
    pred = {p["label"]: p for p in task["predicted"]}
    assert pred[c.label]["gflops"] == per_item
    html = index.read_text()
    html = html[html.index('id="predictions-asr'):]       # the table of predictions (shown or not)
    row = html[html.index(f'<td class="l">{c.label}</td>'):]
    row = row[:row.index("</tr>")]
    assert row.endswith('<td class="">no</td>'), row   # within GFLOPs limit: no
