"""WER and the Whisper English normaliser on hand-made examples."""
from __future__ import annotations

import pytest

from speechbudget.tasks.asr.wer import bootstrap_ci, corpus_wer, normalize, word_errors


def test_normaliser_whisper_rules():
    assert normalize("Hello, World!") == "hello world"
    assert normalize("The colour of Mr. Smith") == "the color of mister smith"  # US spelling
    assert normalize("twenty five dollars") == "$25"
    assert normalize("I'm") == "i am"
    assert normalize("THIS LITTLE WORK WAS FINISHED IN THE YEAR EIGHTEEN O THREE") == \
        normalize("This little work was finished in the year 1803.")


def test_word_errors_counts():
    e = word_errors("the cat sat on the mat", "the cat sit on mat")
    assert (e.substitutions, e.deletions, e.insertions, e.n_ref) == (1, 1, 0, 6)
    e = word_errors("the cat sat on the mat", "the big cat sat on the mat")
    assert (e.substitutions, e.deletions, e.insertions, e.errors) == (0, 0, 1, 1)
    assert word_errors("", "extra words").errors == 2 and word_errors("", "").n_ref == 0
    assert word_errors("two words", "").deletions == 2


def test_corpus_wer_is_pooled_not_averaged():
    refs = ["a b c d e f g h i j", "k"]
    hyps = ["a b c d e f g h i j", "x"]
    assert corpus_wer(refs, hyps) == pytest.approx(1 / 11)
    assert corpus_wer(["Hello, world."], ["hello world"]) == 0.0
    with pytest.raises(ValueError, match="2 references but 1"):
        corpus_wer(refs, hyps[:1])


def test_bootstrap_ci_contains_estimate_and_is_seeded():
    errors = [0, 1, 2, 0, 5, 1, 0, 3, 0, 1]
    n_ref = [10, 12, 9, 11, 15, 10, 8, 14, 10, 12]
    wer = sum(errors) / sum(n_ref)
    lo, hi = bootstrap_ci(errors, n_ref, seed=3)
    assert lo < wer < hi and 0 <= lo and hi < 1
    assert (lo, hi) == bootstrap_ci(errors, n_ref, seed=3)
    assert bootstrap_ci([0] * 5, [4] * 5) == (0.0, 0.0)
