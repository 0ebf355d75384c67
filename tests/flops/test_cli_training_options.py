"""`speechbudget flops` training options: `--epochs 0` printed "training: 16.0 GFLOPs for 10
clips x 0 epochs" (the feature pass of a training that `ser train` refuses to run: its --epochs
is >= 1), and `--epochs` / `--cached-prefix` without `--train-clips` were silently ignored
(as --tokens for SER is not: it is refused)."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app

runner = CliRunner()
SER = ["flops", "--task", "ser", "--model", "tiny.en", "--window", "2"]


def line(r) -> str:
    return " ".join(r.output.split())


def test_zero_epochs_is_refused_naming_the_value():
    r = runner.invoke(app, SER + ["--train-clips", "10", "--epochs", "0"])
    assert r.exit_code == 2 and "--epochs: 0: an integer >= 1" in line(r), r.output


@pytest.mark.parametrize("option, value", [("--epochs", "3"), ("--cached-prefix", "2")])
def test_a_training_option_without_train_clips_is_refused(option, value):
    r = runner.invoke(app, SER + [option, value])
    assert r.exit_code == 2, r.output
    assert f"{option}: {value}: a training option; give --train-clips" in line(r), r.output


def test_defaults_are_one_epoch_and_no_cached_prefix():
    from speechbudget.axes import Config
    from speechbudget.flops import training_flops
    r = runner.invoke(app, SER + ["--train-clips", "10", "--json"])
    assert r.exit_code == 0, r.output
    c = Config(task="ser", model="tiny.en", window=2.0)
    assert json.loads(r.output)["training"]["total"] == training_flops(c, 10, 1).total
    r = runner.invoke(app, SER + ["--train-clips", "10", "--epochs", "3", "--json"])
    assert json.loads(r.output)["training"]["total"] == training_flops(c, 10, 3).total
