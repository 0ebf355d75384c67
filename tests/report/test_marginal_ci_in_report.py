"""The report's marginal-return tables give each step's paired 95% CI, as `recommend` does.

5579fb7 gave each marginal step the paired CI of its error change (`Step.difference`): the
recommend table has a '95% CI (paired)' column and --json a 'difference' per step, and
docs/analysis.md says a step 'keeps its Δerror, CI and ratio'; but index.html's and summary.md's
marginal tables showed the change without it, so a change the paired test cannot tell from 0
read there as a return."""
from __future__ import annotations

from speechbudget.analysis.recommend import recommend
from speechbudget.analysis.source import LoadedResults
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.report import build_report
from tests.report.conftest import html_table, md_table

HEAD = "paired 95% CI of Δ"


def _loaded() -> LoadedResults:
    """Three windows of one model, 30 items each with per-item word errors."""
    results, items = [], {}
    for w, extra in ((10.0, 3), (20.0, 1), (30.0, 0)):
        c = Config(task="asr", model="tiny.en", window=w)
        rows = [ItemResult(f"u{i:02d}", True, prediction="a", reference="a b c d e",
                           errors=(i % 4 == 0) + (i < extra * 4 and i % 2 == 1), n_ref=5,
                           audio_s=5.0) for i in range(30)]
        wer = sum(r.errors for r in rows) / sum(r.n_ref for r in rows)
        results.append((c, ConfigMetrics(c.key, "asr", "wer", wer, n_items=30,
                                         gflops=2.0 * w, rtf=0.001 * w)))
        items[c.key] = rows
    return LoadedResults(results, "results", items=items)


def test_the_marginal_tables_give_the_paired_ci_of_each_step(tmp_path):
    loaded = _loaded()
    rec = recommend(loaded.results, items=loaded.items)
    want = {s.config.label: s.difference.ci_text(100) for a in rec.marginal
            for s in (a.up, a.down) if s is not None}
    assert want and all(want.values())          # the steps carry their paired CI
    html = build_report(loaded, tmp_path, n_bootstrap=0, task="asr").read_text()
    md = (tmp_path / "summary.md").read_text()
    in_html = html_table(html, "<b>Marginal return of each axis</b>")
    in_md = md_table(md, "| axis |")
    for table in (in_html, in_md):
        assert HEAD in table[0], table[0]
        col = table[0].index(HEAD)
        assert {r[2]: r[col] for r in table[1:]} == want
