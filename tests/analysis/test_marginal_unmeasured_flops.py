"""A configuration whose GFLOPs are NaN (missing) or infinite (counts as not measured:
docs/analysis.md) gives no marginal step and takes none. Before, `recommend` on a store whose
most accurate configuration had GFLOPs inf stopped with 'internal error: ValueError: math
domain error' (exit 2; the ratio of a neighbour to it is 0, log 0), and a neighbour with NaN
GFLOPs was shown as a step down 'FLOPs x nan'."""
from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from speechbudget.analysis.marginal_returns import marginal_returns
from speechbudget.analysis.recommend import recommend
from speechbudget.cli.app import app


@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_a_step_needs_both_gflops_measured(pair, bad):
    odd = pair("tiny.en", 30.0, 1, err=0.1, gflops=bad)
    fine = pair("base", 30.0, 1, err=0.2, gflops=20.0)
    for best in (odd, fine):
        assert all(a.up is None and a.down is None for a in marginal_returns(best, [odd, fine]))


@pytest.mark.parametrize("err", [0.1, 0.3])     # the answer, or its neighbour
@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_recommend_answers_with_no_step_to_or_from_it(pair, metrics_store, tmp_path, bad, err):
    res = [pair("tiny.en", 30.0, 1, err=err, gflops=bad),
           pair("base", 30.0, 1, err=0.2, gflops=20.0)]
    rec = recommend(res)
    assert all(not a.steps() for a in rec.marginal)
    store = metrics_store(tmp_path / "r.db", res)
    r = CliRunner().invoke(app, ["recommend", str(store), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert all(m["up"] is None and m["down"] is None for m in d["marginal_returns"])
