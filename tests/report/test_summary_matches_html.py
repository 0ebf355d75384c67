"""summary.md says what index.html says: the marginal-return table has the same columns and
cells in both (the FLOPs ratio beside the change per doubling; which limit a step breaks)."""
from __future__ import annotations

from speechbudget.analysis.limits import Limits
from speechbudget.report import build_report
from tests.report.conftest import html_table, md_table

from tests.report.conftest import asr_results


def test_the_marginal_returns_table_is_the_same_in_summary_md_and_index_html(tmp_path):
    # a GFLOPs limit that the recommended configuration's dearer neighbours break
    html = build_report(asr_results(), tmp_path, n_bootstrap=0,
                        limits=Limits(max_gflops=30.0), task="asr").read_text()
    md = (tmp_path / "summary.md").read_text()
    in_html = html_table(html, "<b>Marginal return of each axis</b>")
    in_md = md_table(md, "| axis |")
    assert in_md[0][3] == "FLOPs ratio" and in_html[0][3] == "FLOPs ratio"
    assert any(r[-1] != "yes" for r in in_html[1:])          # a step breaks the limit
    assert [r[:3] + r[-1:] for r in in_md] == [r[:3] + r[-1:] for r in in_html]
    for m, h in zip(in_md[1:], in_html[1:]):                  # numbers: the same values
        assert [float(v) for v in m[3:5] + m[6:7]] == [float(v) for v in h[3:5] + h[6:7]]
        assert m[5] == h[5]                                   # the paired CI (here '–')


def test_the_measured_configurations_table_is_the_same_in_both(tmp_path):
    """Same rows in the same order (by GFLOPs), same columns but index.html's key."""
    html = build_report(asr_results(), tmp_path, n_bootstrap=0, task="asr").read_text()
    md = (tmp_path / "summary.md").read_text()
    in_html = [r[:-1] for r in html_table(html, 'id="measured-asr"')]
    in_md = md_table(md, "| configuration | metric |")
    assert len(in_md) == len(asr_results()) + 1
    assert in_md == in_html


def test_the_recommendation_table_is_the_same_in_both(tmp_path):
    html = build_report(asr_results(), tmp_path, n_bootstrap=0, task="asr",
                        limits=Limits(max_gflops=40.0)).read_text()
    md = (tmp_path / "summary.md").read_text()
    in_html = html_table(html, 'id="recommendation-asr"')
    in_md = md_table(md, "| configuration | WER % |")
    assert len(in_md) > 2 and "peak MB" in in_md[0]
    assert in_md == in_html
