"""The significant frontier when two configurations scored different item sets: compared on the
items both scored, and said so; never compared on no shared item, or only on items without
reference words (which have no WER)."""
from __future__ import annotations

import numpy as np

from speechbudget.analysis.pareto import significant_frontier
from speechbudget.analysis.recommend import recommend
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.report.model import dominance_text

WORDS = 20


def scored(window: float, errors, gflops: float, ids, words=WORDS):
    c = Config(task="asr", model="tiny.en", window=window)
    words = np.broadcast_to(words, len(ids))
    items = [ItemResult(i, ok=True, errors=int(e), n_ref=int(n))
             for i, e, n in zip(ids, errors, words)]
    wer = float(np.sum(errors)) / max(float(np.sum(words)), 1.0)
    m = ConfigMetrics(c.key, "asr", "wer", wer, n_items=len(ids), gflops=gflops)
    return (c, m), items


def ids(lo, hi):
    return [f"u{i:03d}" for i in range(lo, hi)]


def test_dominance_on_part_of_the_items_is_paired_on_the_intersection_and_said_so():
    e = np.random.default_rng(0).integers(0, 3, 60)
    cheap, cheap_items = scored(10.0, e, 10, ids(0, 60))          # all 60 items
    dear, dear_items = scored(30.0, e[20:] + 2, 30, ids(20, 60))   # 40 of them, clearly worse
    sig = significant_frontier([cheap, dear], {cheap[0].key: cheap_items,
                                               dear[0].key: dear_items})
    (p,) = sig.dominated
    assert p.label == "tiny.en 30s" and p.dominated_by.label == "tiny.en 10s"
    assert p.evidence.n_items == 40 and p.evidence.dropped == 20
    # the evidence is on the 40 shared items, which the output says (it did not)
    (note,) = [n for n in sig.notes if "items both configurations scored" in n]
    assert "tiny.en 30s by tiny.en 10s on 40 items (20 scored by only one" in note
    assert "40 items both scored, 20 left out" in dominance_text(p)


def test_the_same_item_sets_need_no_note():
    e = np.random.default_rng(0).integers(0, 3, 40)
    cheap, cheap_items = scored(10.0, e, 10, ids(0, 40))
    dear, dear_items = scored(30.0, e + 2, 30, ids(0, 40))
    sig = significant_frontier([cheap, dear], {cheap[0].key: cheap_items,
                                               dear[0].key: dear_items})
    assert [p.label for p in sig.dominated] == ["tiny.en 30s"] and sig.notes == []
    assert "left out" not in dominance_text(sig.dominated[0])


def test_disjoint_item_sets_are_not_compared_and_the_point_stays_with_a_note():
    cheap, cheap_items = scored(10.0, [0] * 30, 10, ids(0, 30))
    dear, dear_items = scored(30.0, [5] * 30, 30, ids(30, 60))
    sig = significant_frontier([cheap, dear], {cheap[0].key: cheap_items,
                                               dear[0].key: dear_items})
    assert not sig.dominated
    assert any("no paired test was possible" in n and "tiny.en 30s" in n for n in sig.notes)


def test_shared_items_without_reference_words_are_no_comparison():
    # the two share only z0, an utterance with an empty reference (0 words: no WER); before,
    # paired_difference's ValueError came out of significant_frontier and recommend (report
    # exit 70, recommend exit 2 as if the user had typed something wrong)
    cheap, cheap_items = scored(10.0, [0] * 10 + [0], 10, ids(0, 10) + ["z0"],
                                [WORDS] * 10 + [0])
    dear, dear_items = scored(30.0, [3] * 10 + [1], 30, ids(10, 20) + ["z0"],
                              [WORDS] * 10 + [0])
    items = {cheap[0].key: cheap_items, dear[0].key: dear_items}
    sig = significant_frontier([cheap, dear], items)
    assert not sig.dominated and any("no paired test was possible" in n for n in sig.notes)
    rec = recommend([cheap, dear], items=items)
    assert rec.best[0].label == "tiny.en 10s"
    assert [t.config.label for t in rec.tie_group] == ["tiny.en 10s"]
    assert any("or only items without reference words" in n and "tiny.en 30s" in n
               for n in rec.notes)


def test_report_and_recommend_on_a_store_whose_shared_items_have_no_words(tmp_path, item_store):
    from typer.testing import CliRunner

    from speechbudget.cli import app
    good = [(f"u{i}", 0, WORDS) for i in range(10)]
    bad = [(f"v{i}", 3, WORDS) for i in range(10)]
    store = item_store(tmp_path / "runs.db", [(10, 10.0, good + [("z0", 0, 0)]),
                                              (30, 30.0, bad + [("z0", 1, 0)])])
    r = CliRunner().invoke(app, ["recommend", str(store)])
    assert r.exit_code == 0, r.output              # was exit 2, a usage error
    assert "only items without reference words" in r.output
    r = CliRunner().invoke(app, ["report", str(store), "-o", str(tmp_path / "r"), "--static",
                                 "--no-progress", "--bootstrap", "0"])
    assert r.exit_code == 0, r.output              # was exit 70, an internal error
    assert "no paired test was possible" in (tmp_path / "r" / "index.html").read_text()


def test_an_equal_error_at_a_higher_cost_is_no_untested_pair():
    # plain-dominated by an equal error at a lower cost, which no paired test could call
    # significant: no "no paired test was possible" note (the first version of that note said
    # so of every tied configuration)
    e = np.random.default_rng(0).integers(0, 3, 20)
    a, a_items = scored(10.0, e, 10, ids(0, 20))
    b, b_items = scored(30.0, e, 30, ids(0, 20))
    sig = significant_frontier([a, b], {a[0].key: a_items, b[0].key: b_items})
    assert not sig.dominated and sig.notes == []
