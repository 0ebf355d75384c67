"""The report's human-readable tables (summary.md, index.html) follow the README's convention
as the CLI does: WER in percent under a 'WER %' header (its differences in WER points), SER's
UA as a fraction; report.json keeps the fraction in `value` and adds `wer_percent` beside it."""
from __future__ import annotations

import json
import re

import pytest

from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.report import build_report
from speechbudget.tasks.asr.wer import wer_from_counts

N_ITEMS, N_REF = 20, 27
# word errors per item for each configuration: WERs 0.01852 (10/540), 0.03704, 0.07407
ASR = {"tiny.en": (Config(task="asr", model="tiny.en", window=10.0), 20.0,
                   lambda i: 1 if i < 10 else 0),
       "base": (Config(task="asr", model="base", window=10.0), 45.0,
                lambda i: 1 if i < 20 else 0),
       "tiny.en 30s": (Config(task="asr", model="tiny.en", window=30.0), 40.0,
                       lambda i: 2 if i < 20 else 0)}
SER = {2.0: 3, 4.0: 1}     # clip seconds -> wrong of 8 clips


def _metrics(c: Config, items: list[ItemResult], gflops: float) -> ConfigMetrics:
    e = [r.errors for r in items]
    if c.task == "asr":
        wer = wer_from_counts(e, [r.n_ref for r in items])
        return ConfigMetrics(c.key, "asr", "wer", wer, 0.8 * wer, 1.2 * wer, len(items),
                             gflops=gflops, rtf=gflops / 1000, peak_mem_mb=200 + gflops)
    ua = 1 - sum(e) / len(e)
    return ConfigMetrics(c.key, "ser", "ua", ua, ua - 0.1, min(1.0, ua + 0.1), len(items),
                         gflops=gflops, rtf=gflops / 1000)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from speechbudget.sweep.store import ResultsStore

    path = tmp_path_factory.mktemp("units") / "runs.db"
    st = ResultsStore(path)
    run = st.start_run({"name": "units"}, {"cpu": "Test CPU", "device": "cpu"})
    wers = {}
    for c, g, errs in ASR.values():
        st.register_config(c, g, {"dataset": "made-up"}, run)
        items = [ItemResult(f"utt-{i:02d}", True, prediction="w " * N_REF,
                            reference="w " * N_REF, errors=errs(i), n_ref=N_REF, audio_s=5.0)
                 for i in range(N_ITEMS)]
        st.commit_shard(c.key, "s0", items, run)
        st.set_metrics(c.key, _metrics(c, items, g), run)
        wers[c.label] = wer_from_counts([r.errors for r in items], [r.n_ref for r in items])
    uas = {}
    for window, wrong in SER.items():
        c = Config(task="ser", model="wav2vec2-base", window=window)
        st.register_config(c, 30.0 * window, {"dataset": "made-up"}, run)
        items = [ItemResult(f"clip-{i}", True, prediction="happy" if i >= wrong else "sad",
                            reference="happy", errors=int(i < wrong), n_ref=1, audio_s=3.0)
                 for i in range(8)]
        st.commit_shard(c.key, "s0", items, run)
        m = _metrics(c, items, 30.0 * window)
        st.set_metrics(c.key, m, run)
        uas[c.label] = m.value
    st.finish_run(run)
    st.close()
    out = tmp_path_factory.mktemp("units_report")
    build_report(path, out, n_bootstrap=0)
    return out, wers, uas


def _md_table(md: str, after: str) -> list[list[str]]:
    """The first Markdown table after the line `after`: its header and rows as cells."""
    lines = md[md.index(after):].splitlines()
    start = next(i for i, s in enumerate(lines) if s.startswith("| "))
    rows = []
    for s in lines[start:]:
        if not s.startswith("|"):
            break
        if not s.startswith("|---"):
            rows.append([c.strip() for c in s.strip("|").split(" | ")])
    return rows


def _html_table(html: str, start_id: str) -> list[list[str]]:
    start = html.index(start_id)
    table = html[start:html.index("</table>", start)]
    return [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)
            for r in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)]


def test_summary_md_shows_wer_in_percent_with_its_unit_and_ua_as_a_fraction(report):
    out, wers, uas = report
    md = (out / "summary.md").read_text()
    asr = md[md.index("## ASR"):md.index("## SER")]
    head, *rows = _md_table(asr, "### All measured configurations")
    assert head[2] == "WER %"
    shown = {r[0]: r[2] for r in rows}
    assert shown == {label: f"{100 * w:.2f}" for label, w in wers.items()}
    for w in wers.values():          # the fraction is gone from the ASR section's tables
        assert f"{w:.4g}" not in asr
    head, *rows = _md_table(asr, "**")       # the answer and runners-up
    assert head[1] == "WER %" and rows[0][1] == f"{100 * min(wers.values()):.2f}"
    ser = md[md.index("## SER"):]
    head, *rows = _md_table(ser, "### All measured configurations")
    assert head[2] == "value" and "WER" not in " ".join(head)
    assert sorted(float(r[2]) for r in rows) == pytest.approx(sorted(uas.values()))


def test_index_html_tables_show_wer_in_percent_with_its_unit(report):
    out, wers, uas = report
    html = (out / "index.html").read_text()
    head, *rows = _html_table(html, 'id="measured-asr"')
    i = head.index("WER %")
    assert head[i + 1:i + 3] == ["CI low", "CI high"]
    assert {r[0]: r[i] for r in rows} == {k: f"{100 * w:.2f}" for k, w in wers.items()}
    assert {r[0]: (r[i + 1], r[i + 2]) for r in rows} == {
        k: (f"{80 * w:.2f}", f"{120 * w:.2f}") for k, w in wers.items()}
    head, *rows = _html_table(html, 'id="recommendation-asr"')
    assert head[1] == "WER %" and rows[0][1] == f"{100 * min(wers.values()):.2f}"
    head, *rows = _html_table(html, 'id="tie-group-asr"')
    assert head[2:5] == ["WER %", "WER % 95% CI", "Δ error vs most accurate (WER points)"]
    asr = html[html.index('id="recommendation-asr"'):html.index('id="recommendation-ser"')]
    asr += html[html.index('id="task-asr"'):html.index('id="task-ser"')]
    for w in wers.values():
        assert f">{w:.4g}<" not in asr
    head, *rows = _html_table(html, 'id="measured-ser"')
    i = head.index("value")
    assert sorted(float(r[i]) for r in rows) == pytest.approx(sorted(uas.values()))


def test_report_json_keeps_the_fraction_and_adds_wer_percent(report):
    out, wers, _ = report
    data = json.loads((out / "report.json").read_text())
    asr = next(t for t in data["tasks"] if t["task"] == "asr")
    got = {m["label"]: (m["metrics"]["value"], m["wer_percent"]) for m in asr["measured"]}
    assert got == {k: (pytest.approx(w), pytest.approx(100 * w)) for k, w in wers.items()}
    ser = next(t for t in data["tasks"] if t["task"] == "ser")
    assert all(m["wer_percent"] is None and 0 < m["metrics"]["value"] <= 1
               for m in ser["measured"])


def test_fit_plot_axes_show_wer_in_percent(monkeypatch, tmp_path):
    """The fit plot (measured vs predicted error) is in the unit of the tables: WER %."""
    from speechbudget.analysis.scaling_results import fit_results_nested
    from speechbudget.report import plots

    from .conftest import asr_results

    res = asr_results()
    fit = fit_results_nested(res, n_bootstrap=0).chosen
    shown = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: shown.setdefault("fig", fig) and path)
    plots.fit_plot(fit, tmp_path / "fit.png", "wer")
    ax = shown["fig"].axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("measured WER (%)", "predicted WER (%)")
    xs = ax.collections[0].get_offsets()[:, 0]
    assert sorted(xs) == pytest.approx(sorted(100 * y for y in fit.y))
    import matplotlib.pyplot as plt
    plt.close(shown["fig"])
