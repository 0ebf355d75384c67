"""A step whose FLOPs ratio is near 1 (a stride on the encoder's output: 1.016) gives no rate per
doubling: change / log2(1.016) extrapolates the change 44-fold ('-203 WER points per doubling'
on a synthetic 324-configuration store, named the best return). Such a step keeps its change and
ratio, has no rate (NaN; null in --json; '–' in the tables), and is not ranked for the binding
knob; a step of at least 1/8 of a doubling (marginal_returns.MIN_RATE_RATIO) is."""
from __future__ import annotations

import json
import math

from typer.testing import CliRunner

from speechbudget.analysis.limits import Limits
from speechbudget.analysis.recommend import recommend
from speechbudget.cli.app import app


# the answer is the cheapest configuration: every step up breaks the limit (and says so)
LIMITS = Limits(max_gflops=101.0)


def _grid(pair):
    best = pair("tiny.en", 30.0, 3, err=0.20, gflops=100.0)
    return [best,
            pair("tiny.en", 30.0, 2, err=0.20 - 0.0465, gflops=101.6),   # xV up: x1.016
            pair("base.en", 30.0, 3, err=0.18, gflops=200.0),            # xN up: x2
            pair("tiny.en", 20.0, 3, err=0.23, gflops=80.0)]             # xT down: x0.8


def test_a_step_too_close_in_cost_has_no_rate_and_is_not_the_best_return(pair):
    rec = recommend(_grid(pair), LIMITS)
    by = {a.axis: a for a in rec.marginal}
    xv = by["xV"].up
    assert math.isclose(xv.flops_ratio, 1.016) and math.isclose(xv.d_error, -0.0465)
    assert math.isnan(xv.per_doubling) and not xv.rated
    assert by["xN"].up.rated and math.isclose(by["xN"].up.per_doubling, -0.02)
    assert by["xT"].down.rated      # x0.8: a quarter of a halving
    assert rec.binding.startswith("best return is along xN (model size): -2 WER points"), \
        rec.binding
    assert "not ranked, too close in cost for a rate per doubling (FLOPs ratio under 1.09): " \
           "xV to tiny.en 30s s2@out-mean: -4.65 WER points at x1.02 the FLOPs" in rec.binding
    assert "-203" not in rec.binding
    d = rec.to_dict()
    step = next(m for m in d["marginal_returns"] if m["axis"] == "xV")["up"]
    assert step["error_change_per_doubling"] is None and math.isclose(step["d_error"], -0.0465)
    json.dumps(d, allow_nan=False)


def test_only_close_steps_lower_the_error_no_knob_is_named(pair):
    g = _grid(pair)
    g[2] = pair("base.en", 30.0, 3, err=0.21, gflops=200.0)         # xN up: worse
    rec = recommend(g, LIMITS)
    assert rec.binding.startswith("the steps up that lower the error (xV to tiny.en 30s "
                                  "s2@out-mean: -4.65 WER points at x1.02 the FLOPs) are too "
                                  "close in cost"), rec.binding
    assert rec.binding.endswith("cannot tell which knob binds")


def test_the_cli_table_shows_no_rate_for_the_close_step(pair, metrics_store, tmp_path):
    store = metrics_store(tmp_path / "r.db", _grid(pair))
    r = CliRunner().invoke(app, ["recommend", str(store), "--max-gflops", "101"], terminal_width=250)
    assert r.exit_code == 0, r.output
    row = next(ln for ln in r.output.splitlines() if "s2@out-mean" in ln and "xV" in ln)
    assert "-203" not in row and "–" in row, row
    j = CliRunner().invoke(app, ["recommend", str(store), "--max-gflops", "101", "--json"])
    step = next(m for m in json.loads(j.output)["marginal_returns"] if m["axis"] == "xV")["up"]
    assert step["error_change_per_doubling"] is None


def test_the_bound_is_an_eighth_of_a_doubling_either_way():
    from speechbudget.analysis.marginal_returns import (MIN_RATE_DOUBLINGS, MIN_RATE_RATIO,
                                                        rate_per_doubling)
    assert MIN_RATE_RATIO == 2 ** MIN_RATE_DOUBLINGS and 1.09 < MIN_RATE_RATIO < 1.091
    assert math.isnan(rate_per_doubling(-0.01, 1.09))
    assert math.isnan(rate_per_doubling(0.01, 1 / 1.09))
    assert math.isclose(rate_per_doubling(-0.01, 1.1), -0.01 / math.log2(1.1))
    assert math.isclose(rate_per_doubling(0.01, 1 / 1.1), -0.01 / math.log2(1.1))
