"""paired.corpus_error_of on items without reference words: nan, and no numpy warning (it was
0/0 -> 'RuntimeWarning: invalid value encountered in scalar divide', x/0 -> inf with 'divide by
zero', printed by every raced round whose items had empty transcripts)."""
from __future__ import annotations

import math

import pytest

from speechbudget.paired import corpus_error_of
from speechbudget.records import ItemResult


def _item(i: int, errors: int, n_ref: int, ok: bool = True) -> ItemResult:
    return ItemResult(item_id=f"u{i}", ok=ok, errors=errors if ok else None,
                      n_ref=n_ref if ok else None)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("errors", [[0, 0], [0, 3]])  # 0/0 and 3/0
def test_items_without_reference_words_have_no_corpus_error(errors):
    items = [_item(i, e, 0) for i, e in enumerate(errors)]
    assert math.isnan(corpus_error_of(items, "wer"))
    assert math.isnan(corpus_error_of(items, "cer"))


@pytest.mark.filterwarnings("error")
def test_nothing_scored_and_the_ordinary_case():
    assert math.isnan(corpus_error_of([], "wer"))
    assert math.isnan(corpus_error_of([_item(0, 0, 0, ok=False)], "wer"))
    # one empty reference among others counts as what it is: its errors over the others' words
    items = [_item(0, 1, 0), _item(1, 2, 4), _item(2, 0, 4)]
    assert corpus_error_of(items, "wer") == pytest.approx(3 / 8)
