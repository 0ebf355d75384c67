"""`recommend` at the edges of a budget, in every unit it takes: a limit exactly equal to a
configuration's value admits it, one just below every value is a miss whose size is shown
(never 'over by 0.0%'), and a bad option value names the option as typed."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.axes import Config
from speechbudget.cli import app
from speechbudget.records import ConfigMetrics

runner = CliRunner()
# window, GFLOPs, RTF, peak MB, RTF p50, RTF p90 (the cheapest is the least accurate)
ROWS = [(10.0, 12.5, 0.02, 150.0, 0.03, 0.05), (20.0, 25.0, 0.04, 250.0, 0.06, 0.1),
        (30.0, 37.5, 0.06, 350.0, 0.09, 0.15)]


@pytest.fixture
def store(tmp_path, metrics_store):
    results = []
    for i, (w, g, rtf, mem, p50, p90) in enumerate(ROWS):
        c = Config(task="asr", model="tiny.en", window=w)
        results.append((c, ConfigMetrics(c.key, "asr", "wer", 0.15 - 0.02 * i, n_items=10,
                                         gflops=g, rtf=rtf, peak_mem_mb=mem, rtf_p50=p50,
                                         rtf_p90=p90)))
    return metrics_store(tmp_path / "runs.db", results)


def rec(store, *args):
    return runner.invoke(app, ["recommend", str(store), *args])


@pytest.mark.parametrize("limit", [["--max-gflops", "12.5"], ["--max-rtf", "0.02"],
                                   ["--max-rtf", "0.03", "--rtf-stat", "p50"],
                                   ["--max-rtf", "0.05", "--rtf-stat", "p90"],
                                   ["--max-mem-mb", "150"]])
def test_a_limit_equal_to_the_cheapest_admits_it_alone(store, limit):
    r = rec(store, *limit)
    assert r.exit_code == 0, r.output
    assert "1 of 3 configurations meet" in r.output and "tiny.en 10s —" in r.output


@pytest.mark.parametrize("limit, miss", [
    (["--max-gflops", "12.4999"], "GFLOPs 12.5 > 12.4999 (over by 0.0008%)"),   # was 0.0%
    (["--max-gflops", "1e-300"], "(over by 1.2e+303%)"),          # was a 304-digit number
    (["--max-rtf", "0.0199", "--rtf-stat", "mean"], "RTF 0.02 > 0.0199 (over by 0.5%)"),
    (["--max-rtf", "0.029", "--rtf-stat", "p50"], "RTF p50 (batch 1) 0.03 > 0.029"),
    (["--max-mem-mb", "149.99999999"], "peak memory MB 150.0 > 150 (over by 6.7e-09%)"),
])
def test_a_limit_below_every_configuration_shows_the_miss(store, limit, miss):
    r = rec(store, *limit)
    assert r.exit_code == 1, r.output
    assert "No asr configuration meets" in r.output and "Closest: tiny.en 10s" in r.output
    assert miss in " ".join(r.output.split()), r.output


@pytest.mark.parametrize("args, says", [
    (["--max-gflops", "0"], "invalid --max-gflops 0: a finite number > 0"),
    (["--max-rtf", "-1"], "invalid --max-rtf -1: a finite number > 0"),
    (["--max-mem-mb", "nan"], "invalid --max-mem-mb nan"),
    (["--max-gflops", "inf"], "invalid --max-gflops inf"),
    (["--rtf-stat", "p99"], "invalid --rtf-stat 'p99': one of mean, p50, p90"),
    (["--cost", "flops"], "invalid --cost 'flops': one of gflops, rtf, peak_mem_mb"),
    # the value typed, in points: it said 'invalid tolerance -0.01' (the fraction) for -1
    (["--tolerance", "-1"], "invalid --tolerance -1: points of the metric"),
    (["--tolerance", "100"], "invalid --tolerance 100: points of the metric"),
])
def test_a_bad_option_value_names_the_option_as_typed(store, args, says):
    r = rec(store, *args)
    assert r.exit_code == 2 and says in " ".join(r.output.split()), r.output


def test_report_names_its_limit_options_too(store, tmp_path):
    r = runner.invoke(app, ["report", str(store), "-o", str(tmp_path / "r"), "--max-rtf", "0"])
    assert r.exit_code == 2 and "invalid --max-rtf 0" in r.output, r.output
