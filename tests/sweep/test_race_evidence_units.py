"""Racing's evidence text (stored in the store, shown by sweep run, runs show and the report)
gives a WER difference and its CI in WER points and a WER in percent, as every other view does
(README); SER's error (1 - UA) stays a fraction."""
from __future__ import annotations

import re

import numpy as np

from speechbudget.axes import Config
from speechbudget.paired import corpus_error_of, pair_items, paired_difference
from speechbudget.records import ItemResult
from speechbudget.sweep import ResultsStore, run_sweep
from speechbudget.sweep.racing import eliminations, halving_drops

SPACE = {"models": ["tiny.en", "base.en", "small.en"],
         "axes": {"window": [30, 10], "stride": [1, 4]},
         "task_options": {"n_items": 40, "batch_size": 5}}
RACE = {"type": "grid", "race": {"first_items": 10, "growth": 2}}


def _asr(errors, n_ref=20):
    return [ItemResult(f"u{i:03d}", True, errors=int(e), n_ref=n_ref) for i, e in enumerate(errors)]


def _ser(wrong, labels=("angry", "calm", "happy", "sad")):
    return [ItemResult(f"c{i:03d}", True, reference=labels[i % len(labels)],
                       prediction="neutral" if w else labels[i % len(labels)], errors=int(w),
                       n_ref=1) for i, w in enumerate(wrong)]


def _ci(text):
    """The CI's two bounds as printed ('95% CI +a to +b')."""
    m = re.search(r"95% CI ([+-][\d.e+-]+) to ([+-][\d.e+-]+)", text)
    assert m, text
    return float(m.group(1)), float(m.group(2))


def test_eliminations_give_wer_differences_in_wer_points():
    rng = np.random.default_rng(1)
    base = rng.integers(1, 5, 120)
    good, bad = (Config(task="asr", model="tiny.en", window=w) for w in (10, 20))
    items = {good.key: _asr(base), bad.key: _asr(base + 2)}       # 2 of 20 words: +10 points
    out = eliminations([good, bad], items, {good.key: 1.0, bad.key: 2.0}, "wer", 0.01)
    why = out[bad.key][1]
    d = paired_difference(pair_items(items[bad.key], items[good.key], "wer"))
    assert f"{100 * d.diff:+.3g} WER points" in why, why
    lo, hi = _ci(why)
    assert abs(lo - 100 * d.ci_low) <= 0.01 * abs(100 * d.ci_low) + 1e-9, why
    assert abs(hi - 100 * d.ci_high) <= 0.01 * abs(100 * d.ci_high) + 1e-9, why
    assert f"{hi:+.3g} WER points, paired" in why, why
    # a tolerance (metric units: 0.005) is said in WER points too
    cheap = Config(task="asr", model="tiny.en", window=30)
    items[cheap.key] = _asr(base)
    out = eliminations([good, cheap], items, {good.key: 2.0, cheap.key: 1.0}, "wer", 0.01,
                       tolerance=0.005)
    assert "no more than 0.5 WER points worse" in out[good.key][1], out[good.key][1]


def test_eliminations_keep_ser_errors_as_fractions():
    rng = np.random.default_rng(2)
    wrong = rng.random(200) < 0.2
    good, bad = (Config(task="ser", model="tiny.en", window=w) for w in (10, 20))
    items = {good.key: _ser(wrong), bad.key: _ser(wrong | (rng.random(200) < 0.5))}
    out = eliminations([good, bad], items, {good.key: 1.0, bad.key: 2.0}, "ua", 0.01)
    why = out[bad.key][1]
    d = paired_difference(pair_items(items[bad.key], items[good.key], "ua"))
    assert f"{d.diff:+.3g} error (95% CI" in why and "points" not in why, why
    lo, hi = _ci(why)
    assert 0 < lo <= d.diff <= hi < 1, why


def test_halving_evidence_gives_wer_in_percent_and_differences_in_points():
    rng = np.random.default_rng(0)
    base = rng.integers(2, 6, 200)
    cs = [Config(task="asr", model="tiny.en", window=w) for w in range(5, 9)]
    items = {c.key: _asr(base + k) for k, c in enumerate(cs)}
    cost = {c.key: float(len(cs) - k) for k, c in enumerate(cs)}
    out = halving_drops(cs, cs, items, cost, "wer", 4)
    assert out
    for key, why in out.items():
        err = corpus_error_of(items[key], "wer")
        lead = corpus_error_of(items[cs[0].key], "wer")
        assert f"WER {100 * err:.2f}% vs the leader {cs[0].label}'s {100 * lead:.2f}%" in why, why
        assert "WER points (95% CI" in why and _ci(why)[0] > 1, why   # points, not a fraction


def test_a_race_stores_evidence_in_wer_points(write_spec, tmp_path):
    run_sweep(write_spec("race", plan=RACE, **SPACE), tmp_path / "r.db", progress=False,
              allow_runner=True)
    stopped = ResultsStore(tmp_path / "r.db").configs(status="eliminated")
    assert stopped
    for r in stopped:
        assert re.search(r": [+-][\d.]+ WER points? \(95% CI [+-][\d.]+ to [+-][\d.]+ WER points, "
                         r"paired", r["reason"]), r["reason"]
