"""`speechbudget ser train` / `ser eval` on synthetic clips with a tiny random Whisper."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from speechbudget.cli import app


def test_ser_train_then_eval(synthetic_manifest, tiny_whisper, tmp_path):
    runner = CliRunner()
    out = tmp_path / "ck"
    r = runner.invoke(app, ["ser", "train", "--backbone", str(tiny_whisper), "--model", "tiny.en",
                            "--data", str(synthetic_manifest), "--duration", "1", "--adapt",
                            "lora", "--rank", "2", "--unfreeze-top", "1", "--epochs", "2",
                            "--folds", "3", "--lr", "3e-3", "--out", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "UA" in r.output and (out / "backbone.safetensors").exists()
    meta = json.loads((out / "ser_config.json").read_text())
    assert meta["config"]["adaptation"] == {"method": "lora", "rank": 2, "alpha": 4.0,
                                            "targets": ["q_proj", "v_proj"], "unfreeze_top": 1}
    js = tmp_path / "eval.json"
    r = runner.invoke(app, ["ser", "eval", str(out), "--data", str(synthetic_manifest),
                            "--held-out", "-o", str(js), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    res = json.loads(js.read_text())
    assert res["metrics"]["ua"] == meta["test"]["ua"]
    assert len(res["items"]) == len(meta["test_ids"])


def test_ser_train_rejects_bad_values(synthetic_manifest, tmp_path):
    r = CliRunner().invoke(app, ["ser", "train", "--data", str(synthetic_manifest), "--duration",
                                 "0.01", "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and "window" in r.output
    r = CliRunner().invoke(app, ["ser", "train", "--backbone", str(tmp_path), "--data",
                                 str(synthetic_manifest), "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and "config.json" in r.output


def test_ser_train_rejects_unknown_pooling(synthetic_manifest, tmp_path):
    r = CliRunner().invoke(app, ["ser", "train", "--data", str(synthetic_manifest), "--pooling",
                                 "max", "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and "pooling='max'" in r.output and not (tmp_path / "x").exists()


def test_ser_train_lp_ft_linear_head_then_eval(synthetic_manifest, tiny_whisper, tmp_path):
    runner = CliRunner()
    out = tmp_path / "ck"
    base = ["ser", "train", "--backbone", str(tiny_whisper), "--model", "tiny.en", "--data",
            str(synthetic_manifest), "--duration", "1", "--adapt", "lora", "--rank", "2",
            "--head", "linear", "--epochs", "2", "--folds", "3", "--device", "cpu"]
    r = runner.invoke(app, base + ["--out", str(tmp_path / "refused")])
    assert r.exit_code == 2 and "head_init='probe'" in r.output
    assert not (tmp_path / "refused").exists()
    meta = _train(runner, base + ["--head-init", "probe", "--out", str(out)], out)
    assert meta["options"]["head_init"] == "probe" and meta["options"]["head"] == "linear"
    _eval_reproduces_the_test_score(out, synthetic_manifest, tmp_path, meta)


def test_ser_train_lora_in_the_top_layer_on_a_cached_prefix(synthetic_manifest, tiny_whisper,
                                                            tmp_path):
    runner = CliRunner()
    out = tmp_path / "ck"
    base = ["ser", "train", "--backbone", str(tiny_whisper), "--model", "tiny.en", "--data",
            str(synthetic_manifest), "--duration", "1", "--adapt", "lora", "--rank", "2",
            "--lora-top", "1", "--epochs", "2", "--folds", "3", "--device", "cpu",
            "--no-progress"]
    r = runner.invoke(app, base + ["--train-crop", "sideways", "--out", str(tmp_path / "bad")])
    assert r.exit_code == 2 and "train_crop='sideways'" in r.output
    dama = [("dama" if a == "lora" else a) for a in base]
    r = runner.invoke(app, dama + ["--out", str(tmp_path / "bad")])
    assert r.exit_code == 2 and "adaptation.lora_top" in r.output
    assert not (tmp_path / "bad").exists()
    meta = _train(runner, base + ["--train-crop", "center", "--out", str(out)], out)
    assert meta["config"]["adaptation"]["lora_top"] == 1
    assert meta["options"]["train_crop"] == "center"
    _eval_reproduces_the_test_score(out, synthetic_manifest, tmp_path, meta)


def _train(runner, args, out) -> dict:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return json.loads((out / "ser_config.json").read_text())


def _eval_reproduces_the_test_score(out, manifest, tmp_path, meta) -> None:
    js = tmp_path / "eval.json"
    r = CliRunner().invoke(app, ["ser", "eval", str(out), "--data", str(manifest), "--held-out",
                                 "-o", str(js), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert json.loads(js.read_text())["metrics"]["ua"] == meta["test"]["ua"]


def test_ser_train_default_head_is_linear_on_a_frozen_backbone(synthetic_manifest, tiny_whisper,
                                                               tmp_path):
    runner = CliRunner()
    base = ["ser", "train", "--backbone", str(tiny_whisper), "--model", "tiny.en", "--data",
            str(synthetic_manifest), "--duration", "1", "--epochs", "2", "--folds", "3",
            "--device", "cpu", "--no-progress"]
    for i, (extra, head) in enumerate((([], "linear"), (["--pooling", "attentive-stats"], "mlp"),
                        (["--last-layer"], "mlp"), (["--adapt", "lora", "--rank", "2"], "mlp"),
                        (["--head", "mlp"], "mlp"))):
        out = tmp_path / f"ck{i}"
        meta = _train(runner, base + extra + ["--out", str(out)], out)
        assert meta["options"]["head"] == head, extra


def test_a_warning_is_one_line_on_the_command_line(synthetic_manifest, tiny_whisper, tmp_path):
    """--folds 2 leaves no validation fold: the linear head's C is chosen by grouped
    cross-validation over the training actors, and the command line says so in one line."""
    runner = CliRunner()
    args = ["ser", "train", "--backbone", str(tiny_whisper), "--model", "tiny.en", "--data",
            str(synthetic_manifest), "--duration", "1", "--folds", "2", "--device", "cpu",
            "--no-progress", "--out", str(tmp_path / "ck")]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stderr.splitlines() if "linear head: C cannot be chosen" in ln]
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "chosen by 'actors'" in lines[0]
    assert "UserWarning" not in r.stderr and ".py:" not in r.stderr
    assert "chosen by actors ua" in r.stdout
