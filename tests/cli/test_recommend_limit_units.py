"""A budget limit typed with a unit ("5GFLOPs", "2 GiB", "0.3x") or left empty is a usage error
(exit 2) whose one line names the value as typed and the unit the option takes, in `recommend`,
`report` and `demo` alike. Before, the line was "Input should be a valid number, unable to parse
string as a number": neither the value nor that --max-gflops counts GFLOPs (so 5e9 is 5e9
GFLOPs, not 5 GFLOPs) nor that --max-mem-mb counts MB."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.axes import Config
from speechbudget.cli import app
from speechbudget.records import ConfigMetrics

runner = CliRunner()


@pytest.fixture
def store(tmp_path):
    from tests.analysis.conftest import write_metrics_store
    c = Config(task="asr", model="tiny.en", window=10.0)
    return write_metrics_store(tmp_path / "runs.db", [(c, ConfigMetrics(
        c.key, "asr", "wer", 0.1, n_items=10, gflops=12.5, rtf=0.1, peak_mem_mb=150.0))])


def one_line(output: str) -> str:
    return " ".join(output.split())


@pytest.mark.parametrize("option, typed, unit", [
    ("--max-gflops", "5GFLOPs", "GFLOPs per item"),
    ("--max-gflops", "5G", "GFLOPs per item"),
    ("--max-gflops", "", "GFLOPs per item"),
    ("--max-mem-mb", "2 GiB", "MB (2**20 bytes) of peak memory"),
    ("--max-mem-mb", "500MB", "MB (2**20 bytes) of peak memory"),
    ("--max-rtf", "0.3x", "seconds of compute per second of audio"),
])
def test_a_limit_with_a_unit_names_the_value_and_the_unit(store, tmp_path, option, typed, unit):
    for cmd in (["recommend", str(store)], ["report", str(store), "-o", str(tmp_path / "r")]):
        r = runner.invoke(app, [*cmd, option, typed])
        assert r.exit_code == 2, r.output
        line = one_line(r.output)
        assert f"{typed!r} is not a number: {option} takes a plain number of {unit}" in line, \
            line
    assert not (tmp_path / "r").exists()


def test_demo_names_the_value_too(tmp_path):
    r = runner.invoke(app, ["demo", "-o", str(tmp_path / "d"), "--max-rtf", "1x"])
    assert r.exit_code == 2 and "'1x' is not a number: --max-rtf takes" in one_line(r.output)
    assert not (tmp_path / "d").exists()


def test_a_number_too_large_for_a_float_is_named_as_typed(store):
    r = runner.invoke(app, ["recommend", str(store), "--max-gflops", "1e400"])
    assert r.exit_code == 2 and "'1e400' is beyond the largest number" in one_line(r.output)


def test_plain_numbers_still_work(store):
    assert runner.invoke(app, ["recommend", str(store), "--max-gflops", "12.5"]).exit_code == 0
    r = runner.invoke(app, ["recommend", str(store), "--max-gflops", "5e0"])
    assert r.exit_code == 1 and "GFLOPs 12.5 > 5" in one_line(r.output), r.output
