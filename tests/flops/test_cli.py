"""`speechbudget flops`: table, JSON, measured column, and a bad value named."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from speechbudget.cli import app

runner = CliRunner()


def test_json_matches_estimate():
    from speechbudget.axes import Config
    from speechbudget.flops import estimate
    r = runner.invoke(app, ["flops", "--model", "base", "--window", "10", "--stride", "2",
                            "--stride-at", "3", "--tokens", "30", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    expected = estimate(Config(task="asr", model="base", window=10, stride=2, stride_at=3),
                        decoded_tokens=30)
    assert out["analytic"]["total"] == expected.total
    assert out["analytic"]["breakdown"]["decoder.lm_head"] == expected.breakdown["decoder.lm_head"]
    assert "1 multiply-add = 2 FLOPs" in out["analytic"]["convention"]


def test_table_with_measure():
    r = runner.invoke(app, ["flops", "--model", "tiny.en", "--window", "2", "--stride", "2",
                            "--stride-at", "2", "--tokens", "3", "--measure"])
    assert r.exit_code == 0, r.output
    assert "encoder.attention" in r.output and "measured" in r.output
    assert "+0.000%" in r.output
    assert "GFLOPs per second of audio" in r.output and "convention" in r.output


def test_ser_training_and_bad_value():
    r = runner.invoke(app, ["flops", "--task", "ser", "--model", "hubert-base", "--window", "2",
                            "--adapt", "lora", "--rank", "4", "--train-clips", "10", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["training"]["kind"] == "training"
    bad = runner.invoke(app, ["flops", "--model", "tiny.en", "--stride", "2", "--stride-at", "9"])
    assert bad.exit_code != 0 and "stride_at" in bad.output


def test_ser_training_with_lora_in_the_top_layer_on_a_cached_prefix():
    from speechbudget.axes import Adaptation, Config
    from speechbudget.flops import training_flops

    args = ["flops", "--task", "ser", "--model", "tiny.en", "--window", "2", "--adapt", "lora",
            "--rank", "4", "--lora-top", "1", "--train-clips", "10", "--epochs", "3", "--json"]
    r = runner.invoke(app, args + ["--cached-prefix", "3"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    c = Config(task="ser", model="tiny.en", window=2.0,
               adaptation=Adaptation("lora", 4, lora_top=1))
    assert got["config"]["adaptation"]["lora_top"] == 1
    assert got["training"]["total"] == training_flops(c, 10, 3, cached_prefix=3).total
    assert got["training"]["total"] < training_flops(c, 10, 3).total
    bad = runner.invoke(app, args + ["--cached-prefix", "4"])   # layer 3 trains
    assert bad.exit_code == 2 and "cached_prefix" in bad.output


def test_measure_without_tokens_compares_the_same_whole_tokens():
    """Without --tokens, --measure counts the planning estimate rounded to whole tokens per
    window, and the analytic column uses the same: no difference (it was -0.3% here, the
    analytic side at 7.08 tokens vs 7 counted), and audio longer than the window measures
    (17 estimated tokens over 3 windows was an error)."""
    for args, windows in ((["--window", "2"], 1), (["--window", "2", "--audio-s", "4.5"], 3)):
        r = runner.invoke(app, ["flops", "--model", "tiny.en", *args, "--measure", "--json",
                                "--no-progress"])
        assert r.exit_code == 0, r.output
        out = json.loads(r.output)
        assert out["difference"] == 0, out
        n = out["analytic"]["decoded_tokens"]
        assert n == out["measured"]["decoded_tokens"] and n % windows == 0 and n == int(n)
    bad = runner.invoke(app, ["flops", "--model", "tiny.en", "--window", "2", "--tokens", "2.5",
                              "--measure", "--no-progress"])
    assert bad.exit_code == 2 and "--tokens" in bad.output


def test_ser_lora_on_wavlm_defaults_to_its_feed_forward_layers():
    """docs/flops.md's example: LoRA on WavLM with no --targets was a usage error (its attention
    bypasses q/v_proj, the old default), and the command had no --targets to name others."""
    from speechbudget.axes import Adaptation, Config
    from speechbudget.flops import training_flops

    args = ["flops", "--task", "ser", "--model", "wavlm-base-plus", "--window", "3", "--adapt",
            "lora", "--rank", "8", "--train-clips", "10", "--epochs", "2", "--json"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert got["config"]["adaptation"]["targets"] == ["intermediate_dense", "output_dense"]
    c = Config(task="ser", model="wavlm-base-plus", window=3.0, adaptation=Adaptation(
        "lora", 8, targets=("intermediate_dense", "output_dense")))
    assert got["training"]["total"] == training_flops(c, 10, 2).total
    named = runner.invoke(app, args + ["--targets", "intermediate_dense"])
    assert named.exit_code == 0, named.output
    assert json.loads(named.output)["training"]["total"] < got["training"]["total"]
    bad = runner.invoke(app, args + ["--targets", "q_proj"])
    assert bad.exit_code == 2 and "WavLM" in bad.output
