"""Two SER configurations with the same per-class recalls in another class order have the same
UA, but the mean of the recalls, summed in another order, differs in the last bits (1 - UA:
0.35 and 0.34999999999999987). The step to the dearer one is no return at all, and no knob is
binding because of it."""
from __future__ import annotations

import numpy as np

from speechbudget.analysis.limits import Limits
from speechbudget.analysis.marginal_returns import binding_knob, marginal_returns
from speechbudget.analysis.recommend import recommend
from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics


def _ser(model, recalls, gflops):
    c = Config(task="ser", model=model, window=4.0)
    ua = float(np.mean(np.array(recalls)))      # as balanced accuracy averages the recalls
    return c, ConfigMetrics(c.key, "ser", "ua", ua, n_items=40, gflops=gflops)


def test_an_error_difference_of_rounding_is_no_return():
    cheap = _ser("tiny", (0.8, 0.75, 0.6, 0.45), 4.0)
    dear = _ser("base", (0.6, 0.75, 0.8, 0.45), 10.0)
    assert dear[1].error < cheap[1].error                       # by rounding alone
    assert abs(dear[1].error - cheap[1].error) < 1e-15
    rec = recommend([cheap, dear], Limits(max_gflops=5.0))
    assert rec.best[0].key == cheap[0].key
    up = next(a for a in rec.marginal if a.axis == "xN").up
    assert up.d_error == 0 and up.per_doubling == 0
    assert "lowers the error" in rec.binding and "breaks the limit" not in rec.binding


def test_a_real_difference_is_kept():
    cheap = _ser("tiny", (0.8, 0.75, 0.6, 0.45), 4.0)
    dear = _ser("base", (0.8, 0.75, 0.6, 0.5), 10.0)
    m = marginal_returns(cheap, [cheap, dear])
    up = next(a for a in m if a.axis == "xN").up
    assert up.d_error < 0
    assert binding_knob(m).startswith("best return is along xN")
