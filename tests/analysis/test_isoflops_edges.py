"""Iso-FLOPs bands at their edges: a configuration is in the band [lo, hi) that holds it, exactly."""
from __future__ import annotations

import pytest

from speechbudget.analysis.isoflops import isoflops_bands


@pytest.mark.parametrize("gflops,width,band", [
    (8.0, 2.0, (8.0, 16.0)),                       # exactly on an edge: the band it opens
    (16.0, 2.0, (16.0, 32.0)),
    (0.25, 2.0, (0.25, 0.5)),
    (3.0 ** 5, 3.0, (3.0 ** 5, 3.0 ** 6)),         # log(243)/log(3) rounds to 4.999...
    (8.0 * (1 - 1e-10), 2.0, (4.0, 8.0)),          # just below an edge: the band below it
    (8.0 * (1 - 1e-12), 2.0, (4.0, 8.0)),          # (a 1e-9 nudge put these in [8, 16))
    (2.0 ** 40 * (1 - 1e-12), 2.0, (2.0 ** 39, 2.0 ** 40)),
])
def test_every_point_lies_in_its_band(pair, gflops, width, band):
    results = [pair(window=w, gflops=gflops) for w in (10.0, 20.0)]
    (b,) = isoflops_bands(results, width=width)
    assert (b.lo, b.hi) == pytest.approx(band, rel=1e-12)
    assert all(b.lo <= p.gflops < b.hi for p in b.points)


def test_explicit_edges_are_lower_inclusive(pair):
    results = [pair(window=10.0, gflops=10.0), pair(window=20.0, gflops=10.0),
               pair(window=30.0, gflops=99.999)]
    bands = isoflops_bands(results, edges=[1.0, 10.0, 100.0], min_points=1)
    assert [(b.lo, b.hi, len(b.points)) for b in bands] == [(10.0, 100.0, 3)]
