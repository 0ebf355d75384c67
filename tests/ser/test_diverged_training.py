"""Training that diverges (inf/NaN loss, e.g. a learning rate far too high) is said, never a
model of NaN weights saved and scored: before, `ser train --lr 1e8 --folds 2` saved one whose
every prediction was the first label (UA 1/6, 'loss': NaN in its history) with exit 0."""
from __future__ import annotations

import json
import math

from typer.testing import CliRunner

from speechbudget.cli import app


def _train(tiny_whisper, manifest, out, *extra: str):
    return CliRunner().invoke(app, [
        "ser", "train", "--no-progress", "--device", "cpu", "--model", str(tiny_whisper),
        "--arch", "tiny.en", "--data", str(manifest), "--duration", "1", "--head", "mlp",
        "--lr", "1e8", "--epochs", "8", "--out", str(out), *extra])


def test_without_validation_clips_a_diverged_fit_is_an_error(synthetic_manifest, tiny_whisper,
                                                            tmp_path):
    r = _train(tiny_whisper, synthetic_manifest, tmp_path / "ck", "--folds", "2")
    assert r.exit_code == 2, r.output
    line = r.output.strip().splitlines()[-1]
    assert line.startswith("error: invalid lr=100000000.0: the training loss became inf/NaN")
    assert "lower the learning rate (--lr)" in line
    assert not (tmp_path / "ck" / "ser_config.json").exists()


def test_with_validation_clips_the_best_finite_epoch_is_kept(synthetic_manifest, tiny_whisper,
                                                             tmp_path):
    r = _train(tiny_whisper, synthetic_manifest, tmp_path / "ck", "--folds", "3")
    assert r.exit_code == 0, r.output
    assert "training diverged; stopped there, the best epoch before it" in r.output
    meta = json.loads((tmp_path / "ck" / "ser_config.json").read_text())
    assert all(math.isfinite(row["loss"]) for row in meta["history"])  # no NaN in the JSON
    assert len(meta["history"]) < 8 and meta["best_epoch"] <= len(meta["history"])
