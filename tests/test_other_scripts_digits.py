"""Numbers typed with other scripts' digits are refused, naming the field: the regex class \\d and
str.isdigit() hold for them ('١٠' read as 10 by `--window`, `--stride-at ٢` as layer 2, a sweep
file's 'lora:٨' as rank 8), and str.isdigit() also holds for '²', which int() then refused with a
bare ValueError (`speechbudget flops --stride 2 --stride-at ²`: an internal error, exit 70)."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.axes import Config, ConfigError, parse_window
from speechbudget.cli import app
from speechbudget.sweep.spec_values import adaptation

# 10 in Arabic-Indic, Devanagari and fullwidth digits
OTHER_DIGITS = ["\u0661\u0660", "\u0967\u0966", "\uff11\uff10"]


@pytest.mark.parametrize("text", [*OTHER_DIGITS, *(f"{d}s" for d in OTHER_DIGITS),
                                  "\u0667\u0665\u0660f"])
def test_window_refuses_other_digits(text):
    with pytest.raises(ConfigError, match="window"):
        parse_window(text)


def test_window_still_reads_ascii():
    assert parse_window("10") == 10.0 and parse_window("750f") == 15.0 and \
        parse_window(" 15s ") == 15.0


@pytest.mark.parametrize("at", ["\u0662", "\u00b2", "\uff12"])
def test_stride_at_refuses_other_digits(at):
    with pytest.raises(ConfigError, match="stride_at"):
        Config(task="asr", model="tiny.en", stride=2, stride_at=at)


def test_stride_at_still_reads_ascii():
    assert Config(task="asr", model="tiny.en", stride=2, stride_at="2").stride_at == 2


class SpecErr(Exception):
    pass


@pytest.mark.parametrize("rank", ["\u0668", "\u00b2", "1_0"])
def test_sweep_adaptation_rank_refuses_other_digits(rank):
    with pytest.raises(SpecErr, match="METHOD:RANK"):
        adaptation("axes.adaptation[0]", f"lora:{rank}", lambda k, m: SpecErr(f"{k}: {m}"))
    assert adaptation("a", "lora:8", SpecErr).rank == 8


@pytest.mark.parametrize("at", ["\u00b2", "\u0662"])
def test_cli_stride_at_is_a_usage_error(at):
    r = CliRunner().invoke(app, ["flops", "--model", "tiny.en", "--stride", "2",
                                 "--stride-at", at])
    assert r.exit_code == 2, r.output
    assert "--stride-at" in r.output and repr(at) in r.output, r.output


def test_runs_show_of_a_superscript_is_no_internal_error(tmp_path):
    """`speechbudget runs show STORE ²`: int('²') raised inside the run-id check (exit 70)."""
    from speechbudget.records import ConfigMetrics
    from tests.analysis.conftest import write_metrics_store
    c = Config(task="asr", model="tiny.en", window=10.0)
    write_metrics_store(tmp_path / "runs.db", [(c, ConfigMetrics(c.key, "asr", "wer", 0.1,
                                                                 n_items=10, gflops=12.5))])
    for what in ("\u00b2", "\u0661"):
        r = CliRunner().invoke(app, ["runs", "show", str(tmp_path / "runs.db"), what])
        assert r.exit_code not in (0, 70) and "internal error" not in r.output, r.output
        assert what in r.output, r.output
    assert CliRunner().invoke(app, ["runs", "show", str(tmp_path / "runs.db"), "1"]).exit_code == 0
