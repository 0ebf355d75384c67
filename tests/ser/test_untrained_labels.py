"""A label the head never trained on (an emotion only some actors have, a checkpoint from a
dataset with fewer emotions): `ser train` warns that its held-out fold holds one, `ser eval` on
other data refuses it naming the label (docs/ser.md), `ser eval --held-out` warns as train did.
Before, every such clip was scored as wrong with exit 0 and nothing said."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from speechbudget.cli import app


def _run(*args: str):
    return CliRunner().invoke(app, ["ser", *args, "--no-progress", "--device", "cpu"])


def _subset(manifest, out, keep):
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    rows = [{**r, "audio": str(manifest.parent / r["audio"])} for r in rows if keep(r)]
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


def _train(tiny_whisper, manifest, out):
    return _run("train", "--model", str(tiny_whisper), "--arch", "tiny.en", "--data",
                str(manifest), "--duration", "1", "--folds", "3", "--out", str(out))


def test_a_label_only_in_the_held_out_actor_is_said(synthetic_manifest, tiny_whisper, tmp_path):
    # spk0 alone has FEA, and has the most clips: the first into fold 0, the held-out fold
    data = _subset(synthetic_manifest, tmp_path / "m.jsonl",
                   lambda r: r["speaker"] in ("spk0", "spk1", "spk2", "spk3")
                   and (r["label"] != "FEA" or r["speaker"] == "spk0"))
    r = _train(tiny_whisper, data, tmp_path / "ck")
    assert r.exit_code == 0, r.output
    assert "held-out fold 0 has 2 clip(s) of a label no training clip has: FEA (2)" in r.output
    meta = json.loads((tmp_path / "ck" / "ser_config.json").read_text())
    assert meta["trained_labels"] == ["ANG", "DIS", "HAP", "NEU", "SAD"]
    r = _run("eval", str(tmp_path / "ck"), "--data", str(data), "--held-out", "--json")
    assert r.exit_code == 0, r.output
    assert "FEA (2)" in r.stderr and "not trained on" in r.stderr
    assert json.loads(r.stdout)["metrics"]["ua"] == meta["test"]["ua"]  # as train scored it
    r = _run("eval", str(tmp_path / "ck"), "--data", str(data))
    assert r.exit_code == 3, r.output
    assert "FEA (2)" in r.output and "not trained on" in r.output


def test_a_checkpoint_of_fewer_emotions_on_a_dataset_of_more(synthetic_manifest, tiny_whisper,
                                                            tmp_path):
    three = _subset(synthetic_manifest, tmp_path / "three.jsonl",
                    lambda r: r["label"] in ("ANG", "DIS", "FEA"))
    r = _train(tiny_whisper, three, tmp_path / "ck")
    assert r.exit_code == 0, r.output
    r = _run("eval", str(tmp_path / "ck"), "--data", str(synthetic_manifest))
    assert r.exit_code == 3, r.output
    line = r.output.strip().splitlines()[-1]
    assert "36 clip(s)" in line and "HAP (12), NEU (12), SAD (12)" in line, r.output
    assert "Traceback" not in r.output
    # the labels it knows score
    r = _run("eval", str(tmp_path / "ck"), "--data", str(three))
    assert r.exit_code == 0, r.output
    # a checkpoint saved before trained_labels: class_counts (training fold only) warn
    meta_path = tmp_path / "ck" / "ser_config.json"
    meta = json.loads(meta_path.read_text())
    del meta["trained_labels"]
    meta_path.write_text(json.dumps(meta))
    r = _run("eval", str(tmp_path / "ck"), "--data", str(synthetic_manifest))
    assert r.exit_code == 0, r.output
    assert "HAP (12), NEU (12), SAD (12)" in r.stderr


def test_a_sweep_fold_holding_an_untrained_label_says_so(synthetic_manifest, tiny_whisper,
                                                        tmp_path):
    import pytest

    from speechbudget.axes import Config
    from speechbudget.tasks.ser.runner import SerTask

    data = _subset(synthetic_manifest, tmp_path / "m.jsonl",
                   lambda r: r["speaker"] in ("spk0", "spk1", "spk2", "spk3")
                   and (r["label"] != "FEA" or r["speaker"] == "spk0"))
    task = SerTask(folds=3, epochs=1, source=str(tiny_whisper))
    ds = task.load_dataset(str(data))
    config = Config(task="ser", model="tiny.en", window=1.0)
    shard = task.shards(config, ds)[0]
    with pytest.warns(UserWarning, match=r"fold 0 has 2 clip\(s\) of a label no training clip "
                                         r"has: FEA \(2\)"):
        res = task.run_shard(config, ds, shard, "cpu", {})
    assert all(r.ok for r in res) and sum(r.reference == "FEA" for r in res) == 2

