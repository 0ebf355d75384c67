"""Why a configuration is left off a frontier: 'every item failed' only when no item was scored.

A configuration whose items were all scored but hold no reference words (recordings without
speech: an empty reference transcript is a scored item since 1a521e2) has no WER either, and the
report said of it 'not on the frontier: no error value (every item failed)', where `recommend`
says 'its 3 scored item(s) have no reference words'."""
from __future__ import annotations

import math

from speechbudget.analysis.pareto import pareto_frontier
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics


def _skipped(m_kw):
    ok = Config(task="asr", model="tiny.en", window=10.0)
    odd = Config(task="asr", model="tiny.en", window=30.0)
    results = [(ok, ConfigMetrics(ok.key, "asr", "wer", 0.1, n_items=3, gflops=10.0)),
               (odd, ConfigMetrics(odd.key, "asr", "wer", math.nan, gflops=30.0, **m_kw))]
    fr = pareto_frontier(results)
    assert [p.config.key for p in fr.points] == [ok.key]
    return dict((c.key, why) for c, why in fr.skipped)[odd.key]


def test_scored_items_without_reference_words_are_not_called_failed():
    why = _skipped({"n_items": 3})
    assert "failed" not in why, why
    assert "3 scored item(s)" in why and "no reference words" in why, why


def test_every_item_failed_is_still_said_so():
    assert _skipped({"n_failed": 6}) == "no error value (every item failed)"
