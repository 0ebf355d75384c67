"""`flops --n-classes` / `--pooling` are the SER head's options. Typed with the ASR task (the
default) they were ignored without a word: `flops --model tiny.en --n-classes 4` printed the
same ASR count as without it, exit 0. They are refused (exit 2) naming the option; their
defaults still pass, and with --task ser they count."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from speechbudget.cli import app


def _run(*args):
    return CliRunner().invoke(app, ["flops", "--model", "tiny.en", *args])


def test_ser_head_options_are_refused_with_asr():
    for option, value in (("--n-classes", "4"), ("--pooling", "attentive-stats")):
        r = _run(option, value)
        assert r.exit_code == 2, r.output
        assert f"Invalid value for {option}: {value}: the SER head's option; applies to " \
               f"--task ser" in r.output


def test_ser_head_options_count_with_ser_and_asr_runs_without_them():
    assert _run("--json").exit_code == 0
    four = json.loads(_run("--task", "ser", "--window", "2", "--n-classes", "4", "--json").stdout)
    six = json.loads(_run("--task", "ser", "--window", "2", "--json").stdout)
    assert four["analytic"]["total"] < six["analytic"]["total"]


def test_lora_targets_without_lora_are_refused():
    # --targets with the default --adapt none was dropped without a word (found by CLI fuzzing)
    r = _run("--task", "ser", "--window", "2", "--targets", "q,v")
    assert r.exit_code == 2 and "Invalid value for --targets: q,v" in r.output
    assert _run("--task", "ser", "--window", "2", "--adapt", "lora", "--rank", "4",
                "--targets", "q,v").exit_code == 0
