"""Every configuration scored perfectly (UA 1 on an easy data set, WER 0): the fit floored the
errors at 1e-06 and the report said 'Law kept: ... leave-one-configuration-out MAPE 1e+02%' for a
law predicting 1e-06, as if the data were far from any law. It is now no fit, saying why."""
from __future__ import annotations

import pytest

from speechbudget.analysis.scaling_fit import fit_law
from speechbudget.analysis.scaling_law import FitError
from speechbudget.analysis.scaling_nested import compare_nested
from speechbudget.analysis.scaling_results import fit_results_nested

N = [39e6, 39e6, 39e6, 74e6, 74e6, 74e6, 244e6, 244e6, 244e6, 769e6, 769e6, 769e6]
T = [1.0, 2.0, 4.0] * 4
S = [1] * 12


@pytest.mark.parametrize("fit", [fit_law, compare_nested])
def test_all_zero_errors_are_no_fit(fit):
    with pytest.raises(FitError, match="every one of the 12 configurations has error 0"):
        fit(N, T, S, [0.0] * 12)


def test_some_zero_errors_still_fit():
    y = [0.0] + [0.3 / t + 0.1 for t in T[1:]]
    assert fit_law(N, T, S, y, axes=("T",)).notes[0].startswith("1 error(s) of 0 floored")


def test_report_fit_of_a_perfect_ser_store_says_why(pair):
    results = [pair(model=m, window=w, err=0.0, task="ser", gflops=1.0)
               for m in ("tiny.en", "base", "small") for w in (1.0, 2.0, 3.0, 4.0)]
    with pytest.raises(FitError, match="task ser: every one of the 12 configurations has error 0"):
        fit_results_nested(results, n_bootstrap=0)
