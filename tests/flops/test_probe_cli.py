"""Probes of `speechbudget flops`: strict JSON and errors that name the option the user typed."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app

runner = CliRunner()


def _strict(text: str):
    def refuse(token):
        raise ValueError(f"not strict JSON: {token}")
    return json.loads(text, parse_constant=refuse)


def test_json_is_strict_for_zero_seconds_of_audio():
    """--audio-s 0 has no GFLOPs per second of audio: the JSON printed `NaN` (not JSON)."""
    r = runner.invoke(app, ["flops", "--model", "tiny.en", "--audio-s", "0", "--json"])
    assert r.exit_code == 0, r.output
    out = _strict(r.output)
    assert out["analytic"]["gflops_per_audio_s"] is None and out["analytic"]["total"] > 0


@pytest.mark.parametrize("args, option", [
    (["--beam", "0"], "--beam"),
    (["--task", "ser", "--adapt", "xyz"], "--adapt"),
    (["--task", "ser", "--adapt", "lora", "--rank", "-1"], "--rank"),
    (["--task", "ser", "--train-clips", "-1"], "--train-clips"),
    (["--task", "ser", "--adapt", "lora", "--rank", "4", "--unfreeze-top", "99"],
     "--unfreeze-top"),
    (["--tokens", "-1"], "--tokens"),
    (["--audio-s", "-1"], "--audio-s"),
])
def test_a_bad_value_names_the_option_as_typed(args, option):
    """`--beam 0` said 'Invalid value for --beam-size', `--adapt xyz` '--adaptation.method',
    `--train-clips -1` '--n-train-clips': options the command does not have."""
    r = runner.invoke(app, ["flops", "--model", "tiny.en", *args], terminal_width=200)
    assert r.exit_code == 2, r.output
    assert f"Invalid value for {option}:" in r.output, r.output


def test_tokens_below_one_per_window_report_what_is_counted():
    """--tokens 0 counted one token (end-of-text) but reported decoded_tokens 0 ('+ 0 generated
    tokens'), and the time model charged the decoder nothing for it."""
    from speechbudget.axes import Config
    from speechbudget.flops import estimate
    c = Config(task="asr", model="tiny.en")
    assert estimate(c, decoded_tokens=0).decoded_tokens == 1
    assert estimate(c, decoded_tokens=0).total == estimate(c, decoded_tokens=1).total
    assert estimate(c, decoded_tokens=1, audio_s=61.0).decoded_tokens == 3   # 3 windows
    assert estimate(c, decoded_tokens=7.5).decoded_tokens == 7.5
    r = runner.invoke(app, ["flops", "--model", "tiny.en", "--tokens", "0", "--json"])
    assert r.exit_code == 0, r.output
    assert _strict(r.output)["analytic"]["decoded_tokens"] == 1


@pytest.mark.parametrize("option", ["--audio-s", "--tokens"])
def test_ser_refuses_the_asr_only_options(option):
    """`flops --task ser --window 3 --audio-s 10` printed the FLOPs of a 3 s clip ('(3 s)'),
    silently ignoring the 10 s asked for; --tokens likewise."""
    r = runner.invoke(app, ["flops", "--task", "ser", "--model", "hubert-base", "--window", "3",
                            option, "10"], terminal_width=200)
    assert r.exit_code == 2, r.output
    assert f"Invalid value for {option}: 10: applies to --task asr" in r.output
