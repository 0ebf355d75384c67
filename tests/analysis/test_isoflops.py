"""Iso-FLOPs bands: grouping by octave, per-axis curves, parabola optimum."""
from __future__ import annotations

import pytest

from speechbudget.analysis.isoflops import isoflops_bands, parabola_vertex


def test_bands_group_by_octave_and_curves_take_best_error(pair):
    results = [
        pair(model="tiny.en", window=30.0, err=0.20, gflops=100),   # band [64, 128)
        pair(model="base", window=10.0, err=0.15, gflops=120),      # band [64, 128)
        pair(model="base", window=10.0, stride=2, err=0.25, gflops=70, stride_at="output"),
        pair(model="small", window=10.0, err=0.10, gflops=300),     # band [256, 512), alone
    ]
    bands = isoflops_bands(results)
    assert [(b.lo, b.hi) for b in bands] == [(64, 128)]
    (b,) = bands
    assert b.best.config.label == "base 10s"
    assert b.curves["window_s"].values == [10.0, 30.0]
    assert b.curves["window_s"].errors == [0.15, 0.20]
    assert b.curves["token_rate"].values == [25.0, 50.0]
    assert b.curves["token_rate"].errors == [0.25, 0.15]
    assert len(isoflops_bands(results, min_points=1)) == 2
    explicit = isoflops_bands(results, edges=[50, 500], min_points=1)
    assert len(explicit) == 1 and len(explicit[0].points) == 4


def test_parabola_vertex():
    # y = (log x - log 4)^2 + 0.1: minimum at x = 4
    import math
    xs = [1.0, 2.0, 4.0, 8.0, 16.0]
    ys = [(math.log(x) - math.log(4)) ** 2 + 0.1 for x in xs]
    assert parabola_vertex(xs, ys) == pytest.approx(4.0)
    assert parabola_vertex(xs, [1, 2, 3, 4, 5]) is None  # monotone: minimum at the edge
    assert parabola_vertex([1.0, 2.0], [1, 2]) is None


def test_bad_band_settings(pair):
    with pytest.raises(ValueError, match="band width"):
        isoflops_bands([pair(gflops=1)], width=1.0)
    with pytest.raises(ValueError, match="band edges"):
        isoflops_bands([pair(gflops=1)], edges=[10, 5])
