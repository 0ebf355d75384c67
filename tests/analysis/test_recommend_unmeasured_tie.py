"""Exact ties in error are broken by fewer GFLOPs, then lower RTF (docs/analysis.md), the same
way every time; a cost not measured ranks as the dearest. Before, a NaN GFLOPs or RTF (a
missing value, as a store loads it) compared neither below nor above the other's, so which of
two equally accurate configurations was the most accurate, and the answer, followed the order
the results were listed in (tiny.en with GFLOPs NaN first: tiny.en; base first: base)."""
from __future__ import annotations

import math

import pytest

from speechbudget.analysis.recommend import recommend


@pytest.mark.parametrize("odd", [dict(gflops=math.nan), dict(gflops=10.0, rtf=math.nan)])
def test_the_answer_does_not_follow_the_input_order(pair, odd):
    a = pair("tiny.en", 30.0, 1, err=0.1, **odd)
    b = pair("base", 30.0, 1, err=0.1, gflops=10.0, rtf=0.5)
    for res in ([a, b], [b, a]):
        rec = recommend(res)
        assert rec.most_accurate[0].label == "base 30s"
        assert rec.best[0].label == "base 30s"
