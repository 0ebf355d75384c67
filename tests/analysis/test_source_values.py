"""Stored metrics no measurement can have are refused where results are read
(analysis.source.load_results): a negative cost passed every limit and was the cheapest, a
negative WER was recommended ('WER -20%'). Missing values (None, NaN) still load."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from speechbudget.analysis.source import load_results
from speechbudget.cli import app
from speechbudget.sweep.store import StoreError

runner = CliRunner()


def three(pair, task="asr", **bad):
    out = [pair(window=w, err=0.1 - 0.01 * i, gflops=10.0 * (i + 1), rtf=0.01, mem=100.0,
                task=task) for i, w in enumerate((10.0, 20.0, 30.0))]
    c, m = out[1]
    out[1] = (c, replace(m, **bad))
    return out


@pytest.mark.parametrize("bad, field", [
    ({"value": -0.2}, "wer = -0.2"),                # was recommended: 'WER -20%'
    ({"gflops": -5.0}, "gflops = -5.0"),            # was within every --max-gflops
    ({"peak_mem_mb": -1.0}, "peak_mem_mb = -1.0"),
    ({"rtf": -0.01}, "rtf = -0.01"),
    ({"rtf_p90": -1.0}, "rtf_p90 = -1.0"),
    ({"gflops": "12"}, "gflops = '12'"),
])
def test_impossible_values_are_refused_naming_configuration_field_and_value(pair, tmp_path, bad,
                                                                             field, metrics_store):
    results = three(pair, **bad)
    with pytest.raises(ValueError, match=f"configuration tiny.en 20s .*{field}"):
        load_results(results)
    path = metrics_store(tmp_path / "runs.db", results)
    with pytest.raises(StoreError, match=field):
        load_results(path)
    r = runner.invoke(app, ["recommend", str(path), "--max-gflops", "25"])
    assert r.exit_code == 4 and str(path) in r.output and field in r.output, r.output


@pytest.mark.parametrize("ua", [1.2, -0.1])
def test_a_ua_outside_zero_to_one_is_refused(pair, ua):
    with pytest.raises(ValueError, match=f"ua = {ua}: a fraction in"):
        load_results(three(pair, task="ser", value=ua))


@pytest.mark.parametrize("missing", [{"value": None}, {"value": math.nan}, {"gflops": None},
                                     {"gflops": math.nan}, {"gflops": np.float32(3.0)},
                                     {"value": 0.0, "gflops": 0.0}])
def test_missing_and_zero_values_still_load(pair, missing):
    assert len(load_results(three(pair, **missing)).results) == 3
