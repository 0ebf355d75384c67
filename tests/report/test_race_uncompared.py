"""The report shows racing's uncompared pairs (ResultsStore.uncompared, stored since schema 3)
beside the configurations racing eliminated: for each surviving configuration, which others it
was never tested against and why, escaped in index.html, in summary.md and report.json. It did
not: a race whose pairs could not be compared (no reference words, no item both scored) gave a
report in which a survivor looked as if it had been tested against every rival (shown by:
build_report on such a store: no word of the pairs)."""
from __future__ import annotations

import json

import numpy as np

from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.report import build_report
from speechbudget.report.eliminated import UncomparedPair, load_uncompared
from speechbudget.sweep.store import ResultsStore

WORDS = "the quick brown fox jumps over a lazy dog near river banks".split()
EVIL = 'no item <b>scored</b> & "both"'


def _items(drop: int) -> list[ItemResult]:
    out = []
    for i in range(10):
        ref = list(np.random.default_rng(i).choice(WORDS, size=6))
        hyp = ref[: len(ref) - (i % drop == 0)]
        out.append(ItemResult(f"u{i}", True, prediction=" ".join(hyp), reference=" ".join(ref),
                              errors=len(ref) - len(hyp), n_ref=len(ref), audio_s=4.0))
    return out


def _store(path):
    a = Config(task="asr", model="tiny.en", window=30.0)
    b = Config(task="asr", model="tiny.en", window=30.0, stride=2, stride_at=2)
    gone = Config(task="asr", model="tiny.en", window=10.0)
    with ResultsStore(path) as st:
        run = st.start_run({"name": "u"}, {"device": "cpu"})
        for c, g, drop in ((a, 40.0, 3), (b, 30.0, 2), (gone, 14.0, 1)):
            st.register_config(c, g, {"dataset": "made-up"}, run)
            items = _items(drop)
            st.commit_shard(c.key, "s0", items, run)
            if c is gone:
                st.set_config_status(c.key, "eliminated", "eliminated in racing round 2 ...")
                continue
            e = sum(r.errors for r in items) / sum(r.n_ref for r in items)
            st.set_metrics(c.key, ConfigMetrics(c.key, "asr", "wer", e, e - 0.01, e + 0.01,
                                                len(items), gflops=g, rtf=0.01), run)
        st.add_uncompared(run, 1, {(a.key, b.key): EVIL, (gone.key, a.key): EVIL})
        st.add_uncompared(run, 2, {(b.key, a.key): EVIL})
        st.finish_run(run)
    return a, b, gone


def test_load_uncompared_per_survivor(tmp_path):
    a, b, gone = _store(tmp_path / "r.db")
    got = load_uncompared(tmp_path / "r.db", "asr")
    assert got == sorted(got, key=lambda u: (u.survivor, u.other))
    assert set(got) == {UncomparedPair(a.label, b.label, (1, 2), EVIL),
                        UncomparedPair(b.label, a.label, (1, 2), EVIL),
                        UncomparedPair(a.label, gone.label, (1,), EVIL)}  # gone: no survivor
    assert load_uncompared(tmp_path / "r.db", "ser") == []


def test_report_shows_the_pairs_escaped(tmp_path):
    a, b, gone = _store(tmp_path / "r.db")
    index = build_report(tmp_path / "r.db", tmp_path / "rep", n_bootstrap=0)
    html = index.read_text()
    assert 'id="uncompared-asr"' in html
    section = html[html.index('id="uncompared-asr"'):]
    section = section[:section.index("</table>")]
    assert "<b>scored</b>" not in html
    assert "no item &lt;b&gt;scored&lt;/b&gt; &amp; &quot;both&quot;" in section
    assert section.count("<tr>") == 1 + 3                     # header + 3 pairs
    assert f"<td class=\"l\">{a.label}</td><td class=\"l\">{gone.label}</td>" in section
    md = (tmp_path / "rep" / "summary.md").read_text()
    assert "### Racing: pairs not compared" in md
    rows = [line for line in md.splitlines() if line.startswith(f"| {a.label} |")
            and "scored" in line]
    assert len(rows) == 2 and any(f"| {b.label} | 1, 2 |" in r for r in rows)
    got = json.loads((tmp_path / "rep" / "report.json").read_text())
    asr = next(t for t in got["tasks"] if t["task"] == "asr")
    assert {(u["configuration"], u["not_compared_with"], tuple(u["rounds"]))
            for u in asr["racing_uncompared"]} == {(a.label, b.label, (1, 2)),
                                                   (b.label, a.label, (1, 2)),
                                                   (a.label, gone.label, (1,))}
