"""`ser train` / `ser eval` on bad inputs: each is one line on stderr and the exit code of
docs/security.md ("Errors and exit codes"), with nothing half-written and nothing silently wrong."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app


def _train(*args: str):
    return CliRunner().invoke(app, ["ser", "train", "--no-progress", "--device", "cpu", *args])


@pytest.mark.parametrize("fold", ["3", "-1", "-4"])
def test_ser_train_fold_out_of_range_is_a_usage_error(synthetic_manifest, tmp_path, fold):
    # 3 folds: --fold 3 was an IndexError (exit 70), --fold -1 a misleading speaker-overlap
    # error (exit 3)
    r = _train("--data", str(synthetic_manifest), "--folds", "3", f"--fold={fold}",
               "--out", str(tmp_path / "ck"))
    assert r.exit_code == 2, r.output
    assert f"fold={fold}" in r.output and "0..2" in r.output
    assert not (tmp_path / "ck").exists()


def _eval(*args: str):
    return CliRunner().invoke(app, ["ser", "eval", "--no-progress", "--device", "cpu", *args])


def _tiny(tiny_whisper, manifest, out, *extra: str):
    r = _train("--model", str(tiny_whisper), "--arch", "tiny.en", "--data", str(manifest),
               "--duration", "1", "--folds", "3", "--epochs", "1", "--out", str(out), *extra)
    assert r.exit_code == 0, r.output
    return out


def test_ser_train_out_that_is_a_file_is_refused_before_training(synthetic_manifest, tmp_path):
    (tmp_path / "f").write_text("keep")
    for out in (tmp_path / "f", tmp_path / "f" / "ck"):  # was exit 70 after all the training
        r = _train("--data", str(synthetic_manifest), "--out", str(out))
        assert r.exit_code == 6, r.output
        assert str(out) in r.output and "training" not in r.output
    assert (tmp_path / "f").read_text() == "keep"


def test_a_frozen_checkpoint_saved_over_an_adapted_one_scores_as_trained(
        synthetic_manifest, tiny_whisper, tmp_path):
    import json
    # the adapted run's backbone.safetensors stayed and was loaded into the frozen backbone:
    # `ser eval` then scored another model than the one trained, with exit 0
    over = _tiny(tiny_whisper, synthetic_manifest, tmp_path / "ck", "--unfreeze-top", "1")
    assert (over / "backbone.safetensors").exists()
    _tiny(tiny_whisper, synthetic_manifest, over)
    fresh = _tiny(tiny_whisper, synthetic_manifest, tmp_path / "fresh")
    assert not (over / "backbone.safetensors").exists()
    probs = []
    for ck in (over, fresh):
        r = _eval(str(ck), "--data", str(synthetic_manifest), "--held-out", "--json")
        assert r.exit_code == 0, r.output
        probs.append([i["extra"]["probs"] for i in json.loads(r.stdout)["items"]])
    assert probs[0] == probs[1]


def test_a_damaged_checkpoint_is_a_model_file_error(synthetic_manifest, tiny_whisper, tmp_path):
    import shutil
    ck = _tiny(tiny_whisper, synthetic_manifest, tmp_path / "ck", "--adapt", "lora", "--rank",
               "2", "--head", "mlp")
    cases = {"no_backbone": lambda d: (d / "backbone.safetensors").unlink(),   # was exit 0
             "cut_head": lambda d: (d / "head.safetensors").write_bytes(       # was exit 70
                 (ck / "head.safetensors").read_bytes()[:100]),
             "cut_backbone": lambda d: (d / "backbone.safetensors").write_bytes(
                 (ck / "backbone.safetensors").read_bytes()[:1000])}
    for name, damage in cases.items():
        d = tmp_path / name
        shutil.copytree(ck, d)
        damage(d)
        r = _eval(str(d), "--data", str(synthetic_manifest))
        assert r.exit_code == 5, (name, r.output)
        assert str(d) in r.output and "Traceback" not in r.output
