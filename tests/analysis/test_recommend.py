"""Budget recommendation: hand-computed best, runners-up, marginal returns, infeasible limits."""
from __future__ import annotations

import math

import pytest

from speechbudget.analysis.limits import Limits
from speechbudget.analysis.recommend import NoResultsError, recommend


@pytest.fixture
def grid(pair):
    # tiny.en/base x window 10/20/30 x stride 1/2, GFLOPs and RTF chosen by hand
    rows = [
        # model, window, stride, err, gflops, rtf
        ("tiny.en", 10.0, 1, 0.120, 100, 0.04),
        ("tiny.en", 20.0, 1, 0.090, 200, 0.06),
        ("tiny.en", 30.0, 1, 0.080, 300, 0.08),
        ("tiny.en", 20.0, 2, 0.110, 100, 0.03),
        ("base", 10.0, 1, 0.090, 400, 0.09),
        ("base", 20.0, 1, 0.060, 800, 0.12),
        ("base", 20.0, 2, 0.075, 400, 0.07),
    ]
    return [pair(model=m, window=w, stride=s, err=e, gflops=g, rtf=r, stride_at=2 if s > 1 else
                 "output") for m, w, s, e, g, r in rows]


def test_best_under_limits_and_runners_up(grid):
    rec = recommend(grid, Limits(max_gflops=500, max_rtf=0.1))
    c, m = rec.best
    assert c.label == "base 20s s2@L2-mean" and m.error == 0.075
    assert [c.label for c, _ in rec.runners_up] == ["tiny.en 30s", "tiny.en 20s", "base 10s"]
    assert rec.n_feasible == 6 and rec.n_considered == 7
    assert "base 20s s2@L2-mean" in rec.message


def test_ties_broken_by_fewer_gflops(pair):
    a = pair(window=10.0, err=0.1, gflops=20)
    b = pair(window=12.0, err=0.1, gflops=10)
    rec = recommend([a, b])
    assert rec.best[0].label == "tiny.en 12s"


def test_marginal_returns_per_doubling_and_binding_limit(grid):
    rec = recommend(grid, Limits(max_gflops=500, max_rtf=0.1))
    by_axis = {a.axis: a for a in rec.marginal}
    # xV: stride 2 -> 1 doubles FLOPs (400 -> 800), error 0.075 -> 0.060: -0.015 per doubling,
    # and the step breaks both limits
    up = by_axis["xV"].up
    assert up.config.label == "base 20s" and math.isclose(up.per_doubling, -0.015)
    assert not up.feasible and {v.limit for v in up.violations} == {"max_gflops", "max_rtf"}
    # xN: base -> tiny.en (same window, stride) is a step down: 400 -> 100 GF, error +0.035
    down = by_axis["xN"].down
    assert down.config.label == "tiny.en 20s s2@L2-mean"
    assert math.isclose(down.per_doubling, 0.035 / math.log2(0.25))
    assert by_axis["xN"].up is None and by_axis["xT"].up is None and by_axis["xT"].down is None
    assert "xV" in rec.binding and "RTF 0.12 > 0.1" in rec.binding


def test_nothing_meets_limits_names_closest_and_the_miss(grid):
    rec = recommend(grid, Limits(max_gflops=50, max_rtf=0.035))
    assert not rec.feasible and rec.best is None
    c, m, vs = rec.closest
    # tiny.en 20s s2: 100 GF (over by 100%), RTF 0.03 (ok) -> smallest total excess
    assert c.label == "tiny.en 20s s2@L2-mean"
    assert [v.limit for v in vs] == ["max_gflops"]
    assert "No asr configuration meets" in rec.message
    assert "tiny.en 20s s2@L2-mean" in rec.message and "over by 100.0%" in rec.message
    d = rec.to_dict()
    assert d["feasible"] is False and d["closest"]["label"] == "tiny.en 20s s2@L2-mean"


def test_unmeasured_rtf_cannot_meet_an_rtf_limit(pair):
    a = pair(err=0.05, gflops=10, rtf=None)
    b = pair(window=10.0, err=0.10, gflops=10, rtf=0.05)
    rec = recommend([a, b], Limits(max_rtf=0.1))
    assert rec.best[0].label == "tiny.en 10s"
    assert any("no RTF measured" in n for n in rec.notes)


def test_single_configuration_and_machine_note(pair):
    rec = recommend([pair(err=0.1, gflops=10, rtf=0.01)],
                    machine={"cpu": "Test CPU", "threads": 2})
    assert rec.best is not None and rec.runners_up == []
    assert all(a.up is None and a.down is None for a in rec.marginal)
    assert "Test CPU" in rec.to_dict()["rtf_note"]


def test_bad_input_is_named(pair):
    with pytest.raises(ValueError, match="max_rtf=-1"):
        Limits(max_rtf=-1)
    with pytest.raises(NoResultsError, match="no finished configurations"):
        recommend([])
    mixed = [pair(err=0.1, gflops=1), pair(model="wav2vec2-base", window=3.0, task="ser", err=0.4,
                                          gflops=1)]
    with pytest.raises(NoResultsError, match="tasks asr, ser"):
        recommend(mixed)
    assert recommend(mixed, task="ser").best[0].task == "ser"
    with pytest.raises(NoResultsError, match="task 'asr'"):
        recommend(mixed[1:], task="asr")
