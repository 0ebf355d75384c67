"""Every error the report's tables show has its 95 % CI beside it where the results hold one:
the recommendation's table (index.html and summary.md), the tie group and the measured
configurations in summary.md as in index.html."""
from __future__ import annotations

import re

import pytest

from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.report import build_report
from tests.report.conftest import md_table

# name -> (config, GFLOPs, errors of item i out of 10 words, stored 95% CI of the WER)
CONFIGS = {
    "cheap": (Config(task="asr", model="tiny.en", window=10.0), 10.0, lambda i: 1,
              (0.061, 0.143)),
    "near": (Config(task="asr", model="tiny.en", window=20.0), 20.0,
             lambda i: 1 + (1 if i in (0, 1, 2) else -1 if i in (3, 4) else 0), (0.052, 0.157)),
    "worse": (Config(task="asr", model="tiny.en", window=30.0), 30.0, lambda i: 3 + i % 2,
              (0.311, 0.389)),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from speechbudget.sweep.store import ResultsStore

    path = tmp_path_factory.mktemp("cis") / "runs.db"
    st = ResultsStore(path)
    run = st.start_run({"name": "cis"}, {"cpu": "Test CPU", "device": "cpu"})
    for c, g, errs, (lo, hi) in CONFIGS.values():
        st.register_config(c, g, {"dataset": "made-up"}, run)
        items = [ItemResult(f"utt-{i:02d}", True, prediction="w " * 10, reference="w " * 10,
                            errors=errs(i), n_ref=10, audio_s=5.0) for i in range(40)]
        st.commit_shard(c.key, "s0", items, run)
        wer = sum(it.errors for it in items) / sum(it.n_ref for it in items)
        st.set_metrics(c.key, ConfigMetrics(c.key, "asr", "wer", wer, ci_low=lo, ci_high=hi,
                                            n_items=40, gflops=g, rtf=g / 1000,
                                            peak_mem_mb=100.0 + g), run)
    st.finish_run(run)
    st.close()
    return path


def _ci(lo: float, hi: float) -> str:
    return f"{100 * lo:.2f} to {100 * hi:.2f}"          # WER % as the tables give it


def test_the_recommendation_and_summary_tables_show_each_error_ci(store, tmp_path):
    html = build_report(store, tmp_path, n_bootstrap=0).read_text()
    md = (tmp_path / "summary.md").read_text()
    # the recommendation's table in index.html: its first table, a CI column beside the error
    box = html[html.index('id="recommendation-asr"'):]
    table = box[:box.index("</table>")]
    head = re.findall(r"<th[^>]*>(.*?)</th>", table)
    assert "WER % 95% CI" in head
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr[^>]*>(.*?)</tr>",
                                                                          table)[1:]]
    col = head.index("WER % 95% CI")
    by_label = {c.label: _ci(*ci) for c, _, _, ci in CONFIGS.values()}
    assert rows and all(r[col] == by_label[r[0]] for r in rows)
    # summary.md: the same table, the tie group and the measured configurations
    rec = md_table(md, "| configuration | WER % |")
    col = rec[0].index("WER % 95% CI")
    assert len(rec) > 1 and all(r[col] == by_label[r[0].replace("\\", "")] for r in rec[1:])
    tie = md_table(md, "| configuration | in the group as |")
    col = tie[0].index("WER % 95% CI")
    assert len(tie) > 1 and all(r[col] == by_label[r[0].replace("\\", "")] for r in tie[1:])
    measured = md_table(md, "| configuration | metric |")
    lo, hi = measured[0].index("CI low"), measured[0].index("CI high")
    assert len(measured) == 1 + len(CONFIGS)
    for r in measured[1:]:
        assert f"{r[lo]} to {r[hi]}" == by_label[r[0].replace("\\", "")]


def test_an_error_without_a_stored_ci_shows_a_dash(tmp_path):
    c = Config(task="asr", model="tiny.en", window=10.0)
    res = [(c, ConfigMetrics(c.key, "asr", "wer", 0.1, n_items=40, gflops=10.0, rtf=0.01))]
    build_report(res, tmp_path, n_bootstrap=0)
    rec = md_table((tmp_path / "summary.md").read_text(), "| configuration | WER % |")
    assert rec[1][rec[0].index("WER % 95% CI")] == "–"
