"""Iso-FLOPs bands and the frontier on GFLOPs no band can hold: infinite (a damaged store, or an
estimate that overflowed) and near the largest float, where the next band edge overflows."""
from __future__ import annotations

import math
import sys

from speechbudget.analysis.isoflops import isoflops_bands
from speechbudget.analysis.pareto import pareto_frontier


def test_infinite_gflops_are_left_out(pair):
    # before: OverflowError (math.floor of inf), which stopped the whole report (exit 70)
    results = [pair(window=w, gflops=math.inf) for w in (10.0, 20.0)]
    assert isoflops_bands(results) == []
    finite = [pair(window=w, gflops=10.0) for w in (10.0, 20.0)]
    (band,) = isoflops_bands(results + finite)
    assert (band.lo, band.hi, len(band.points)) == (8.0, 16.0, 2)


def test_gflops_near_the_largest_float_get_an_open_top_band(pair):
    # before: OverflowError from 2.0 ** 1024, the band's upper edge
    g = sys.float_info.max
    (band,) = isoflops_bands([pair(window=w, gflops=g) for w in (10.0, 20.0)])
    assert band.lo == 2.0 ** 1023 and band.hi == math.inf
    assert all(band.lo <= p.gflops < band.hi for p in band.points)


def test_the_frontier_says_why_an_infinite_cost_is_left_out(pair):
    fr = pareto_frontier([pair(window=10.0, gflops=math.inf), pair(window=20.0, gflops=None),
                          pair(window=30.0, gflops=5.0)])
    assert [why for _, why in fr.skipped] == ["gflops is inf", "no gflops value"]
