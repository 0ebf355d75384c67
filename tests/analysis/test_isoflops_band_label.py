"""Band labels read in one notation: '512–1,024 GFLOPs', where they read '512–1.02e+03 GFLOPs'
(the octave 512-1024 of a synthetic 324-configuration store: '.3g' switches to e-notation at
1000)."""
from __future__ import annotations

import math

from speechbudget.analysis.isoflops import IsoFlopsBand, isoflops_bands


def test_the_octave_across_a_thousand_reads_in_one_notation(pair):
    res = [pair("tiny.en", 30.0, 1, err=0.1, gflops=600.0),
           pair("base.en", 10.0, 1, err=0.12, gflops=700.0)]
    (band,) = isoflops_bands(res)
    assert band.label == "512–1,024 GFLOPs"
    assert "e+" not in band.label


def test_edges_from_small_to_huge():
    from speechbudget.analysis.isoflops import fmt_edge
    assert [fmt_edge(v) for v in (0.125, 2 ** 0.5, 45.25, 128.0, 2 ** 19, 2 ** 20)] == \
        ["0.125", "1.41", "45.2", "128", "524,288", "1.05e+06"]
    assert fmt_edge(math.inf) == "∞"
    assert IsoFlopsBand(2.0 ** 1023, math.inf, []).label == "8.99e+307–∞ GFLOPs"
    assert IsoFlopsBand(1.5 ** 17, 1.5 ** 18, []).label == "985–1,478 GFLOPs"
