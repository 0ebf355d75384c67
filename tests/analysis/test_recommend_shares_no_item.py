"""The most accurate configuration shares no scored item with any other (each run on other
clips: another SER fold, another subset): the answer said 'It is significantly more accurate
than every other configuration it shares items with (2 share none) (paired 95%)', a claim about
no configuration at all. It now says that it was compared with none."""
from __future__ import annotations

from speechbudget.analysis.recommend import recommend
from speechbudget.records import ItemResult


def _items(prefix, n, wrong):
    return [ItemResult(f"{prefix}{i}", True, prediction="ANG" if i >= wrong else "SAD",
                       reference="ANG" if i % 2 else "SAD", errors=int((i >= wrong) != (i % 2 == 1)),
                       n_ref=1) for i in range(n)]


def test_no_shared_item_is_no_significance_claim(pair):
    a, b, c = (pair(window=w, err=e, task="ser", gflops=w)
               for w, e in ((1.0, 0.4), (2.0, 0.2), (3.0, 0.1)))
    items = {a[0].key: _items("a", 20, 3), b[0].key: _items("b", 20, 5),
             c[0].key: _items("c", 20, 7)}
    rec = recommend([a, b, c], items=items)
    assert rec.best[0].key == c[0].key
    assert "significantly more accurate" not in rec.message, rec.message
    assert "shares no scored item with any other configuration (2), so it was compared with " \
        "none" in rec.message, rec.message


def test_some_shared_items_keep_the_claim(pair):
    a, b, c = (pair(window=w, err=e, task="ser", gflops=w)
               for w, e in ((1.0, 0.5), (2.0, 0.2), (3.0, 0.0)))
    right = [ItemResult(f"x{i}", True, prediction="ANG", reference="ANG", errors=0, n_ref=1)
             for i in range(40)]
    wrong = [ItemResult(f"x{i}", True, prediction="SAD", reference="ANG", errors=1, n_ref=1)
             for i in range(20)] + right[20:]
    items = {a[0].key: wrong, b[0].key: _items("b", 20, 5), c[0].key: right}
    rec = recommend([a, b, c], items=items)
    assert "significantly more accurate than every other configuration it shares items with " \
        "(1 share none)" in rec.message, rec.message


def test_the_note_on_ser_names_no_reference_words(pair):
    # the note said '... share no scored item with the most accurate, tiny.en 3s, or only items
    # without reference words, and ...' for SER clips, which have a label, not words
    a, b, c = (pair(window=w, err=e, task="ser", gflops=w)
               for w, e in ((1.0, 0.4), (2.0, 0.2), (3.0, 0.1)))
    items = {a[0].key: _items("a", 20, 3), b[0].key: _items("b", 20, 5),
             c[0].key: _items("c", 20, 7)}
    note = next(n for n in recommend([a, b, c], items=items).notes if "share no scored" in n)
    assert "reference words" not in note, note
    assert "with the most accurate, tiny.en 3s, and could not be compared" in note, note
