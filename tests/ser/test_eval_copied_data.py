"""`ser eval` of a checkpoint on a copy of its training data in another folder (the data moved to
another machine, or copied next to it): the training and validation clips were scored with no
warning, because `fitted_files` compares paths only, so the UA read like a held-out score. A
clip whose bytes equal a fitted clip's (`fitted_digests`) is now counted as fitted."""
from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.tasks.ser.data import load_dataset
from speechbudget.tasks.ser.scoring import fitted_clips


def _run(*args: str):
    return CliRunner().invoke(app, ["ser", *args, "--no-progress", "--device", "cpu"])


def test_eval_on_a_copy_of_the_training_data_says_so(synthetic_manifest, tiny_whisper, tmp_path):
    r = _run("train", "--model", str(tiny_whisper), "--arch", "tiny.en", "--data",
             str(synthetic_manifest), "--duration", "1", "--folds", "3", "--out",
             str(tmp_path / "ck"))
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "ck" / "ser_config.json").read_text())
    n_fitted = 72 - len(meta["test_ids"])
    assert len(meta["fitted_digests"]) == n_fitted
    copy = shutil.copytree(synthetic_manifest.parent, tmp_path / "moved")
    r = _run("eval", str(tmp_path / "ck"), "--data", str(copy / "manifest.jsonl"), "--json")
    assert r.exit_code == 0, r.output
    assert f"{n_fitted} of the 72 clips scored were the checkpoint's training or validation" \
        in r.stderr, r.stderr
    assert json.loads(r.stdout)["metrics"]["extra"]["fitted_clips"] == n_fitted


def test_fitted_clips_matches_bytes_not_names(synthetic_manifest, tmp_path):
    import soundfile as sf
    ds = load_dataset(synthetic_manifest)
    copy = shutil.copytree(synthetic_manifest.parent, tmp_path / "c")
    moved = load_dataset(copy / "manifest.jsonl")
    first = moved.items[0]
    x, sr = sf.read(first.path, dtype="float32")
    sf.write(first.path, -x, sr)                       # same name, other audio
    from speechbudget.tasks.ser.scoring import clip_digests, clip_files
    meta = {"fitted_files": clip_files(ds.items[:3]), "fitted_digests": clip_digests(ds.items[:3])}
    assert fitted_clips(meta, moved, moved.items) == [c.id for c in moved.items[1:3]]
    # a checkpoint saved before fitted_digests: paths only, as before
    meta.pop("fitted_digests")
    assert fitted_clips(meta, moved, moved.items) == []
    assert fitted_clips(meta, ds, ds.items) == [c.id for c in ds.items[:3]]
