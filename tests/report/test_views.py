"""The report's views of a store: per-utterance comparison with a word diff, racing's eliminated
configurations apart, tie groups and CIs in the recommendation box, readable iso-FLOPs panels,
one heatmap per stride position, Pareto error bars. The store is written through its public
API with per-item results scored by tasks.asr.wer (as the ASR task stores them)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from speechbudget.analysis.isoflops import isoflops_bands
from speechbudget.analysis.pareto import pareto_frontier
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.report import build_report, plots
from speechbudget.tasks.asr.wer import bootstrap_ci, wer_from_counts, word_errors


@pytest.fixture
def asr_only(realistic_results):
    return [(c, m) for c, m in realistic_results if c.task == "asr"]


WORDS = ("the quick brown fox jumps over a lazy dog while seven wizards quietly hum old songs "
         "near river banks under grey skies").split()
N_ITEMS = 12
EVIL_ID = 'utt<7>&"x"'
EVIL_HYP = 'the <img src=x onerror=alert(1)> & "fox"'


def reference(i: int) -> str:
    rng = np.random.default_rng(i)
    return " ".join(rng.choice(WORDS, size=8 + i % 5))


def hypothesis(config: str, i: int, ref: str) -> str:
    if i == 7:
        return EVIL_HYP                               # markup in a hypothesis (every config)
    w = ref.split()
    if i == 3:
        w[1] = "cat"                                  # the constructed substitution (every config)
    if config == "runner" and i in (5, 9):
        w = w[:-1]                                    # a deletion
    if config == "stride_out" and i == 5:
        w = w[:-1]
    if config == "stride4" and i % 2 == 0:
        w = [w[0], "uh"] + w[2:] + ["um"]             # substitution and insertion
    if config == "bad":
        w = w[: len(w) // 2]
    return " ".join(w)


ASR = {  # name -> (config, GFLOPs per item)
    "best": (Config(task="asr", model="tiny.en", window=30.0), 40.0),
    "runner": (Config(task="asr", model="tiny.en", window=30.0, stride=2, stride_at=2), 30.0),
    "stride_out": (Config(task="asr", model="tiny.en", window=30.0, stride=2,
                          stride_at="output"), 39.0),
    "stride4": (Config(task="asr", model="tiny.en", window=30.0, stride=4, stride_at=2), 25.0),
    "bad": (Config(task="asr", model="tiny.en", window=10.0), 14.0),
}
EVIDENCE = ("eliminated in racing round 1 after 6 items: significantly worse than tiny.en 30s "
            "s4@L2-mean at no more GFLOPs per item: tiny.en 10s - tiny.en 30s s4@L2-mean: "
            "+0.4 error (95% CI +0.3 to +0.5, paired, 6 items), p = 1e-05 < 0.0042 (Bonferroni)")


def asr_items(name: str, n: int = N_ITEMS) -> list[ItemResult]:
    out = []
    for i in range(n):
        ref = reference(i)
        hyp = hypothesis(name, i, ref)
        we = word_errors(ref, hyp)
        out.append(ItemResult(EVIL_ID if i == 7 else f"utt-{i:02d}", True, prediction=hyp,
                              reference=ref, errors=we.errors, n_ref=we.n_ref, audio_s=5.0))
    return out


SER_LABELS = ["angry", "happy", "sad", "neutral"]


def ser_items(shift: int) -> list[ItemResult]:
    out = []
    for i in range(16):
        label = SER_LABELS[i % 4]
        pred = SER_LABELS[(i + shift) % 4] if i % 5 == 0 else label
        out.append(ItemResult(f"clip-{i:02d}", True, prediction=pred, reference=label,
                              errors=int(pred != label), n_ref=1, audio_s=2.0))
    return out


def metrics_of(c: Config, items: list[ItemResult], gflops: float) -> ConfigMetrics:
    e = [r.errors for r in items]
    n = [r.n_ref for r in items]
    if c.task == "asr":
        lo, hi = bootstrap_ci(e, n, n_boot=200)
        return ConfigMetrics(c.key, "asr", "wer", wer_from_counts(e, n), lo, hi, len(items),
                             gflops=gflops, rtf=gflops / 1000, peak_mem_mb=200 + gflops)
    acc = 1 - sum(e) / len(e)
    return ConfigMetrics(c.key, "ser", "ua", acc, acc - 0.1, min(1.0, acc + 0.1), len(items),
                         gflops=gflops, rtf=gflops / 1000)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from speechbudget.sweep.store import ResultsStore

    path = tmp_path_factory.mktemp("views") / "runs.db"
    st = ResultsStore(path)
    run = st.start_run({"name": "views"}, {"cpu": "Test CPU", "device": "cpu"})
    for name, (c, g) in ASR.items():
        st.register_config(c, g, {"dataset": "made-up"}, run)
        items = asr_items(name, 6 if name == "bad" else N_ITEMS)
        st.commit_shard(c.key, "s0", items, run)
        if name == "bad":
            st.set_config_status(c.key, "eliminated", EVIDENCE)
        else:
            st.set_metrics(c.key, metrics_of(c, items, g), run)
    for shift, window in ((0, 2.0), (2, 4.0)):    # 2 s: every clip right; 4 s: 4 wrong
        c = Config(task="ser", model="wav2vec2-base", window=window)
        st.register_config(c, 30.0 * window, {"dataset": "made-up"}, run)
        items = ser_items(shift)
        st.commit_shard(c.key, "s0", items, run)
        st.set_metrics(c.key, metrics_of(c, items, 30.0 * window), run)
    st.finish_run(run)
    st.close()
    return path


@pytest.fixture(scope="module")
def page(store, tmp_path_factory):
    return build_report(store, tmp_path_factory.mktemp("views_report"), n_bootstrap=0)


def section(html: str, start_id: str) -> str:
    start = html.index(f'id="{start_id}"')
    return html[start:html.index("</section>", start)]


def test_per_utterance_view_lists_every_item_with_both_hypotheses(page):
    html = page.read_text()
    data = json.loads((page.parent / "report.json").read_text())
    asr = next(t for t in data["tasks"] if t["task"] == "asr")
    rec = asr["recommendation"]
    # the two compared are the recommendation's pick and its first runner-up
    assert asr["utterances"]["recommended"] == rec["best"]["label"]
    assert asr["utterances"]["runner_up"] == rec["runners_up"][0]["label"]
    assert asr["utterances"]["n_items"] == N_ITEMS
    sec = section(html, "utterances-asr-section")
    rows = re.findall(r'<tr data-differ="([01])"[^>]*>(.*?)</tr>', sec, re.S)
    assert len(rows) == N_ITEMS
    by_name = {n: c for n, (c, _) in ASR.items()}
    names = {c.label: n for n, c in by_name.items()}
    a, b = names[asr["utterances"]["recommended"]], names[asr["utterances"]["runner_up"]]
    from html import escape
    for i in range(N_ITEMS):
        item_id = EVIL_ID if i == 7 else f"utt-{i:02d}"
        row = next(r for d, r in rows if f'<td class="l">{escape(item_id)}</td>' in r)
        ref = reference(i)
        for name in (a, b):      # both hypotheses, as transcribed, with their stored errors
            hyp = hypothesis(name, i, ref)
            assert f"<summary>as transcribed</summary>{escape(hyp)}</details>" in row
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        for cell, name in ((cells[2], a), (cells[3], b)):   # the stored word errors of each
            assert cell == str(word_errors(ref, hypothesis(name, i, ref)).errors)
        for n_err, hyp_cell in ((cells[2], cells[6]), (cells[3], cells[7])):
            marks = len(re.findall(r'class="sub"|<del |<ins ', hyp_cell))
            assert marks == int(n_err)                 # the diff marks exactly those errors
    # rows where the two differ come first
    flags = [d for d, _ in rows]
    assert flags == sorted(flags, reverse=True) and "1" in flags and "0" in flags
    assert 'class="only-differ"' in sec


def test_constructed_substitution_is_marked(page):
    sec = section(page.read_text(), "utterances-asr-section")
    ref = reference(3).split()
    assert f'<span class="sub" title="reference: {ref[1]}">cat</span>' in sec


def test_hypotheses_and_ids_are_html_escaped(page):
    html = page.read_text()
    assert "<img src=x" not in html and 'utt<7>' not in html
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; &quot;fox&quot;" in html
    assert "utt&lt;7&gt;&amp;&quot;x&quot;" in html


def test_ser_view_shows_label_and_both_predictions(page):
    sec = section(page.read_text(), "utterances-ser-section")
    rows = re.findall(r'<tr data-differ="[01]"[^>]*>(.*?)</tr>', sec, re.S)
    assert len(rows) == 16
    row = next(r for r in rows if ">clip-05<" in r)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert cells[1] == "happy" and {cells[2], cells[3]} == {"happy", "neutral"}  # label, preds
    assert {cells[4], cells[5]} == {"yes", "no"}


def test_eliminated_configurations_have_their_own_table_and_stay_off_the_frontier(page):
    html = page.read_text()
    bad = ASR["bad"][0]
    start = html.index('id="eliminated-asr"')
    table = html[start:html.index("</table>", start)]
    assert f"<td class=\"l\">{bad.label}</td>" in table
    assert "eliminated in racing round 1 after 6 items" in table and "95% CI +0.3 to +0.5" in table
    cells = re.findall(r"<td[^>]*>(.*?)</td>", table, re.S)
    assert cells[1] == "6"                                              # items scored
    errs = [r.errors for r in asr_items("bad", 6)]
    refs = [r.n_ref for r in asr_items("bad", 6)]
    # WER in percent, as the column header says
    assert float(cells[3]) == pytest.approx(100 * wer_from_counts(errs, refs), rel=1e-3)
    assert "<th class=\"\">WER % on those items</th>" in table
    # not among the measured configurations nor on any frontier
    measured = html[html.index("All measured configurations"):start]
    assert bad.label not in measured
    data = json.loads((page.parent / "report.json").read_text())
    asr = next(t for t in data["tasks"] if t["task"] == "asr")
    assert [e["label"] for e in asr["eliminated"]] == [bad.label]
    assert all(p["key"] != bad.key for fr in asr["frontiers"].values() for p in fr)


def test_recommendation_box_shows_tie_group_cis_and_no_limits(page):
    html = page.read_text()
    box = html[html.index('id="recommendation-asr"'):html.index('id="recommendation-ser"')]
    assert "no limits set: all 4 configurations considered" in box
    tie = box[box.index('id="tie-group-asr"'):]
    data = json.loads((page.parent / "report.json").read_text())
    rec = next(t for t in data["tasks"] if t["task"] == "asr")["recommendation"]
    assert len(rec["tie_group"]) >= 2                       # 12 items cannot separate them
    for m in rec["tie_group"]:
        assert f"<td class=\"l\">{m['label']}</td>" in tie
        d = m["difference"]
        if d is not None:                                   # the paired CI of the difference
            assert (f"{d['ci_low']:+.3g} to {d['ci_high']:+.3g}" if d["ci_low"] is not None
                    else "unbounded (") in tie
    assert "most accurate" in tie and "tied" in tie and "Decision rule" in tie


def test_without_per_item_results_the_box_says_no_tie_group(asr_only, tmp_path):
    html = build_report(asr_only, tmp_path, n_bootstrap=0).read_text()
    assert 'id="tie-group-asr"' in html and "no paired test was possible" in html
    assert "No per-utterance view: no per-item results" in html


def shown_tick_labels(axis, lim) -> list[str]:
    """Non-empty, visible tick labels whose tick lies inside the axis' view (a label of a tick
    outside the view is never drawn)."""
    lo, hi = sorted(lim)
    out = []
    for minor in (False, True):
        locs = axis.get_minorticklocs() if minor else axis.get_majorticklocs()
        for loc, lab in zip(locs, axis.get_ticklabels(minor=minor)):
            if lo <= loc <= hi and lab.get_visible() and lab.get_text():
                out.append(lab.get_text())
    return out


def test_every_isoflops_panel_has_tick_labels_and_axis_titles(asr_only):
    fig = plots.isoflops_figure(isoflops_bands(asr_only))
    fig.canvas.draw()
    panels = [ax for ax in fig.axes if ax.get_xlabel()]
    assert len(panels) == 3
    for ax in panels:
        xt = shown_tick_labels(ax.xaxis, ax.get_xlim())
        yt = shown_tick_labels(ax.yaxis, ax.get_ylim())
        assert len(xt) >= 2, (ax.get_xlabel(), xt)
        assert len(yt) >= 2, (ax.get_xlabel(), yt)
        assert ax.get_ylabel() == "WER (%)" and ax.get_title()
    assert all(t.endswith("M") for t in shown_tick_labels(panels[0].xaxis,
                                                          panels[0].get_xlim()))  # parameters
    assert "same scale" in fig._suptitle.get_text()
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_two_stride_positions_give_two_titled_heatmaps(asr_only):
    res = list(asr_only)
    extra = []
    for c, m in res:   # the same grid with the stride on the encoder output too
        if c.stride > 1:
            c2 = Config(task="asr", model=c.model, window=c.window, stride=c.stride,
                        stride_at="output")
            extra.append((c2, ConfigMetrics(c2.key, "asr", "wer", m.value * 1.1,
                                            gflops=m.gflops * 1.2)))
    fig = plots.heatmap_figure(res + extra)
    maps = [ax for ax in fig.axes if ax.images]
    assert len(maps) == 2 * 2                              # 2 positions x 2 models
    titles = [ax.get_title() for ax in maps]
    assert sum("before encoder layer 2" in t for t in titles) == 2
    assert sum("on the encoder output" in t for t in titles) == 2
    # each heatmap shows the values of its own position
    out = next(ax for ax in maps if "output" in ax.get_title() and "tiny.en" in ax.get_title())
    want = next(m.value for c, m in extra if c.label == "tiny.en 30s s2@out-mean")
    assert f"{100 * want:.2f}" in [t.get_text() for t in out.texts]   # WER in percent
    import matplotlib.pyplot as plt
    plt.close(fig)
    one = plots.heatmap_figure(res)
    assert len([ax for ax in one.axes if ax.images]) == 2
    plt.close(one)


def test_pareto_plot_has_ci_error_bars_and_names_every_point(asr_only):
    from matplotlib.container import ErrorbarContainer
    import matplotlib.pyplot as plt

    res = asr_only
    fr = pareto_frontier(res)
    fig = plots.pareto_figure(fr)
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 2                                # frontier and dominated
    segs = [s for b in bars for s in b.lines[2][0].get_segments()]
    assert len(segs) == len(fr.points)
    by_cost = {p.cost: p for p in fr.points}
    for s in segs:                                       # each bar spans its 95% CI
        p = by_cost[s[0][0]]
        assert (s[0][1], s[1][1]) == pytest.approx((100 * p.metrics.ci_low,
                                                    100 * p.metrics.ci_high))  # WER in %
    assert ax.get_ylabel() == "WER (%)"
    assert ax.get_xscale() == "log"
    numbers = [t.get_text() for t in ax.texts]
    assert sorted(numbers, key=int) == [str(i) for i in range(1, len(fr.points) + 1)]
    key = " ".join(t.get_text() for t in fig.axes[1].texts)
    assert all(p.label in key for p in fr.points)
    plt.close(fig)


def test_interactive_pareto_has_error_bars_and_the_eliminated(store, tmp_path):
    pytest.importorskip("plotly")
    from speechbudget.report.interactive import figure_data

    html = build_report(store, tmp_path, n_bootstrap=0, interactive=True).read_text()
    traces = figure_data(html[html.index('id="pareto-asr-gflops"'):])
    front = next(t for t in traces if t["name"] == "Pareto frontier")
    assert front["error_y"]["array"] and front["error_y"]["arrayminus"]
    assert "95% CI" in front["hovertemplate"]
    elim = next(t for t in traces if t["name"] == "eliminated by racing")
    assert [cd[0] for cd in elim["customdata"]] == [ASR["bad"][0].label]


PROBE = """<script>
window.addEventListener('load', function () {
  var t = document.getElementById('utterances-asr');
  var visible = function () { return Array.prototype.filter.call(t.tBodies[0].rows,
      function (r) { return r.style.display !== 'none'; }).length; };
  var before = visible();
  var cb = document.querySelector('input.only-differ[data-table="utterances-asr"]');
  cb.checked = true; cb.dispatchEvent(new Event('change'));
  var only = visible();
  t.tHead.rows[0].cells[1].click();
  var first = t.tBodies[0].rows[0].cells[1].textContent;
  var d = document.createElement('div'); d.id = 'probe';
  d.textContent = 'ROWS ' + before + ' ONLY ' + only + ' FIRST ' + first + ' END';
  document.body.appendChild(d);
});
</script>"""


def test_utterance_table_filters_and_sorts_in_headless_chromium(page, tmp_path, headless):
    html = page.read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", PROBE + "</body>"))
    dom = headless("--virtual-time-budget=10000", "--dump-dom",
                   probe.as_uri(), capture_output=True, text=True, timeout=120).stdout
    m = re.search(r"ROWS (\d+) ONLY (\d+) FIRST (.*?) END", dom)
    assert m, "the probe did not run"
    differ = section(html, "utterances-asr-section").count('data-differ="1"')
    assert int(m.group(1)) == N_ITEMS and int(m.group(2)) == differ < N_ITEMS
    assert int(m.group(3)) == min(len(reference(i).split()) for i in range(N_ITEMS))  # sorted


@pytest.mark.parametrize("ref,hyp", [
    ("The cat sat on the mat.", "the bat sat on mat now"),
    ("Mister Smith paid 20 dollars", "mr smith payed twenty dollars extra"),
    ("", "words from nothing"), ("all of it gone", ""), ("", "")])
def test_the_diff_is_the_alignment_behind_the_word_errors(ref, hyp):
    from speechbudget.tasks.asr.wer import align_words

    ops = align_words(ref, hyp)
    we = word_errors(ref, hyp)
    kinds = [o.op for o in ops]
    assert (kinds.count("substitute"), kinds.count("delete"), kinds.count("insert")) == (
        we.substitutions, we.deletions, we.insertions)
    assert sum(o.ref is not None for o in ops) == we.n_ref


# ---- the significant frontier in the report ---------------------------------------------------
TIE = {  # name -> (config, GFLOPs, errors of item i (10 reference words each))
    "cheap": (Config(task="asr", model="tiny.en", window=10.0), 10.0, lambda i: 1),
    # a noisy near-tie, dearer and 0.25 points worse on the point estimates: not shown beaten
    "near": (Config(task="asr", model="tiny.en", window=20.0), 20.0,
             lambda i: 1 + (1 if i in (0, 1, 2) else -1 if i in (3, 4) else 0)),
    # dearer and clearly worse on every item: dominated, with the paired evidence
    "clear": (Config(task="asr", model="tiny.en", window=30.0), 30.0, lambda i: 3 + i % 2),
}


@pytest.fixture(scope="module")
def tie_store(tmp_path_factory):
    from speechbudget.sweep.store import ResultsStore

    path = tmp_path_factory.mktemp("tie") / "runs.db"
    st = ResultsStore(path)
    run = st.start_run({"name": "tie"}, {"cpu": "Test CPU", "device": "cpu"})
    for name, (c, g, errs) in TIE.items():
        st.register_config(c, g, {"dataset": "made-up"}, run)
        items = [ItemResult(f"utt-{i:02d}", True, prediction="w " * 10, reference="w " * 10,
                            errors=errs(i), n_ref=10, audio_s=5.0) for i in range(40)]
        st.commit_shard(c.key, "s0", items, run)
        st.set_metrics(c.key, metrics_of(c, items, g), run)
    st.finish_run(run)
    st.close()
    return path


def measured_status(html: str, task: str) -> dict[str, str]:
    start = html.index(f'id="measured-{task}"')
    table = html[start:html.index("</table>", start)]
    out = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)[1:]:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        out[cells[0]] = cells[-2]
    return out


def test_a_noisy_near_tie_is_not_shown_dominated_and_a_clear_one_is(tie_store, tmp_path):
    from speechbudget.analysis.source import load_results

    res = load_results(tie_store).results
    plain = {p.label: p for p in pareto_frontier(res).points}
    cheap, near, clear = (TIE[k][0].label for k in ("cheap", "near", "clear"))
    assert plain[near].dominated and plain[clear].dominated    # the point estimates say both
    html = build_report(tie_store, tmp_path, n_bootstrap=0).read_text()
    status = measured_status(html, "asr")
    assert status[cheap] == "Pareto-optimal" and status[near] == "Pareto-optimal"
    assert status[clear].startswith(f"dominated by {cheap}: Δ error +25 WER points")
    assert "paired 95% CI" in status[clear] and "40 items" in status[clear]
    assert "significant frontier" in html[html.index('id="frontier-rule-asr-gflops"'):]
    data = json.loads((tmp_path / "report.json").read_text())
    front = {p["label"]: p for p in data["tasks"][0]["frontiers"]["gflops"]}
    assert not front[near]["dominated"] and front[near]["evidence"] is None
    ev = front[clear]["evidence"]
    assert front[clear]["dominated_by"] == TIE["cheap"][0].key and ev["ci_low"] > 0
    # report.json keeps the fraction; the page shows it in WER points
    assert status[clear].endswith(f"CI {100 * ev['ci_low']:+.3g} to {100 * ev['ci_high']:+.3g} "
                                  "WER points, 40 items)")
    assert data["tasks"][0]["frontier_rules"]["gflops"]["rule"] == "significant"
    md = (tmp_path / "summary.md").read_text()
    assert "significant frontier" in md and f"dominated by {cheap}" in md


def test_hover_names_what_dominates_a_point_and_the_paired_ci(tie_store, tmp_path):
    pytest.importorskip("plotly")
    from speechbudget.report.interactive import figure_data

    html = build_report(tie_store, tmp_path, n_bootstrap=0, interactive=True).read_text()
    traces = figure_data(html[html.index('id="pareto-asr-gflops"'):])
    dom = next(t for t in traces if t["name"] == "dominated")
    assert [cd[0] for cd in dom["customdata"]] == [TIE["clear"][0].label]
    assert dom["customdata"][0][3].startswith(f"dominated by {TIE['cheap'][0].label}")
    assert "paired 95% CI" in dom["customdata"][0][3] and "customdata[3]" in dom["hovertemplate"]
    front = next(t for t in traces if t["name"] == "Pareto frontier")
    assert TIE["near"][0].label in [cd[0] for cd in front["customdata"]]


def test_the_plain_frontier_is_said_so_and_the_plot_key_names_the_dominating_point(asr_only,
                                                                                   tmp_path):
    import matplotlib.pyplot as plt

    html = build_report(asr_only, tmp_path, n_bootstrap=0).read_text()
    note = html[html.index('id="frontier-rule-asr-gflops"'):]
    assert note.split("</p>")[0].count("plain frontier") == 2     # the rule and the why
    fr = pareto_frontier(asr_only)
    fig = plots.pareto_figure(fr)
    key = [t.get_text() for t in fig.axes[1].texts]
    number = {p.config.key: i for i, p in enumerate(fr.points, 1)}
    for p in fr.dominated:
        line = next(k for k in key if p.label + " (" in k)
        assert line.endswith(f"(dominated by {number[p.dominated_by.key]})")
    plt.close(fig)


def test_latency_percentiles_are_in_the_measured_table_only_when_present(asr_only, tmp_path):
    import dataclasses

    html = build_report(asr_only, tmp_path / "none", n_bootstrap=0).read_text()
    assert "latency p50 (s)" not in html
    with_lat = [(c, dataclasses.replace(m, latency_p50_s=0.5 + i, latency_p90_s=0.9 + i,
                                        rtf_p50=0.05, rtf_p90=0.09, latency_n=8))
                for i, (c, m) in enumerate(asr_only)]
    html = build_report(with_lat, tmp_path / "lat", n_bootstrap=0).read_text()
    start = html.index('id="measured-asr"')
    table = html[start:html.index("</table>", start)]
    for h in ("latency p50 (s)", "latency p90 (s)", "RTF p50", "RTF p90"):
        assert f">{h}</th>" in table
    assert "<td class=\"\">1.9</td>" in table          # the second configuration's p90
    md = (tmp_path / "lat" / "summary.md").read_text()
    assert "latency p90 (s)" in md
