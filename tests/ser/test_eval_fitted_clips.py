"""`ser eval` on clips the checkpoint was trained or early-stopped on says so (one warning line,
`fitted_clips` in the metrics): their UA is no held-out score."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from speechbudget.cli import app


def _run(*args: str):
    return CliRunner().invoke(app, ["ser", *args, "--no-progress", "--device", "cpu"])


def _train(tiny_whisper, manifest, out):
    return _run("train", "--model", str(tiny_whisper), "--arch", "tiny.en", "--data",
                str(manifest), "--duration", "1", "--folds", "3", "--out", str(out))


def _other_recordings(root):
    """Every wav under `root` rewritten with other samples (the same names, other audio)."""
    import soundfile as sf
    for f in sorted(root.rglob("*.wav")):
        x, sr = sf.read(f, dtype="float32")
        sf.write(f, -0.5 * x, sr)


def test_eval_says_when_it_scores_the_clips_a_checkpoint_trained_on(synthetic_manifest,
                                                                    tiny_whisper, tmp_path):
    # `ser eval CK --data SAME_DATA` scored the training and validation clips beside the
    # held-out ones, with exit 0 and a UA that read like a held-out score
    import shutil
    r = _train(tiny_whisper, synthetic_manifest, tmp_path / "ck")
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "ck" / "ser_config.json").read_text())
    n_fitted = 72 - len(meta["test_ids"])
    r = _run("eval", str(tmp_path / "ck"), "--data", str(synthetic_manifest), "--json")
    assert r.exit_code == 0, r.output
    assert f"{n_fitted} of the 72 clips scored were the checkpoint's training or validation" \
        in r.stderr
    assert json.loads(r.stdout)["metrics"]["extra"]["fitted_clips"] == n_fitted
    r = _run("eval", str(tmp_path / "ck"), "--data", str(synthetic_manifest), "--held-out")
    assert r.exit_code == 0 and "training or validation" not in r.output, r.output
    # another dataset laid out alike (the same relative names and ids, other recordings)
    other = shutil.copytree(synthetic_manifest.parent, tmp_path / "other")
    _other_recordings(other)
    r = _run("eval", str(tmp_path / "ck"), "--data", str(other / "manifest.jsonl"))
    assert r.exit_code == 0 and "training or validation" not in r.output, r.output
    # a checkpoint saved before fitted_files, on the dataset it names: all but its test clips
    meta_path = tmp_path / "ck" / "ser_config.json"
    meta.pop("fitted_files")
    meta_path.write_text(json.dumps(meta))
    r = _run("eval", str(tmp_path / "ck"), "--data", str(synthetic_manifest))
    assert r.exit_code == 0 and f"{n_fitted} of the 72 clips" in r.output, r.output
