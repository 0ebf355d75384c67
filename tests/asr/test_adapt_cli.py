"""`speechbudget asr adapt` then `asr eval --adapter` on a tiny random Whisper (loader patched)."""
from __future__ import annotations

import json

import numpy as np
import soundfile as sf
from typer.testing import CliRunner

from .conftest import build_tiny_whisper, tiny_bundle, tone_rows

SR = 16000


def test_adapt_then_eval(tmp_path, monkeypatch):
    import speechbudget.models.loading as loading
    from speechbudget.cli import app

    bundle = tiny_bundle(build_tiny_whisper(seed=4))
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: bundle)
    rows = [{**r, "text": "w1 w2"}
            for r in tone_rows(tmp_path, "a", [1.2 + 0.5 * i for i in range(3)], 180)]
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "adapter"
    cli = CliRunner()
    common = ["--window", "4", "--stride", "2", "--stride-at", "1", "--data", str(tmp_path)]
    r = cli.invoke(app, ["asr", "adapt", *common, "--rank", "2", "--steps", "3",
                         "--batch-size", "3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    info = json.loads((out / "adapter.json").read_text())
    assert info["config"]["adaptation"]["objective"] == "distill"
    assert len(info["train"]["losses"]) == 3 and (out / "adapter.safetensors").exists()
    r = cli.invoke(app, ["asr", "eval", *common, "--adapter", str(out), "-o",
                         str(tmp_path / "m.json")])
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["config"]["adaptation"]["steps"] == 3 and m["metrics"]["n_items"] == 3
    bad = ["--window", "6", "--stride", "2", "--stride-at", "1", "--data", str(tmp_path)]
    r = cli.invoke(app, ["asr", "eval", *bad, "--adapter", str(out)])
    assert r.exit_code != 0 and "window=4.0" in r.output, r.output


def test_adapt_supervised_and_untranscribed(tmp_path, monkeypatch):
    import speechbudget.models.loading as loading
    from speechbudget.cli import app

    bundle = tiny_bundle(build_tiny_whisper(seed=4))
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: bundle)
    plain, texts = [], []
    for i in range(2):
        t = np.arange(int((1.2 + 0.5 * i) * SR)) / SR
        sf.write(tmp_path / f"a{i}.wav", (0.3 * np.sin(2 * np.pi * (180 + 90 * i) * t))
                 .astype(np.float32), SR, subtype="FLOAT")
        plain.append({"id": f"a{i}", "audio": f"a{i}.wav"})
        texts.append({**plain[-1], "text": f"w{3 + i} w9"})
    (tmp_path / "plain.jsonl").write_text("\n".join(json.dumps(r) for r in plain) + "\n")
    (tmp_path / "texts.jsonl").write_text("\n".join(json.dumps(r) for r in texts) + "\n")
    cli = CliRunner()
    common = ["--window", "4", "--stride", "2", "--rank", "2", "--steps", "2"]
    r = cli.invoke(app, ["asr", "adapt", *common, "--adapt", "supervised", "--data",
                         str(tmp_path / "plain.jsonl"), "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "plain.jsonl" in r.output and "transcripts" in r.output, r.output
    assert not (tmp_path / "x" / "adapter.json").exists()
    r = cli.invoke(app, ["asr", "adapt", *common, "--data", str(tmp_path / "plain.jsonl"),
                         "--out", str(tmp_path / "d")])                 # distill needs no text
    assert r.exit_code == 0, r.output
    r = cli.invoke(app, ["asr", "adapt", *common, "--adapt", "supervised", "--data",
                         str(tmp_path / "texts.jsonl"), "--out", str(tmp_path / "s")])
    assert r.exit_code == 0, r.output
    info = json.loads((tmp_path / "s" / "adapter.json").read_text())
    a = info["config"]["adaptation"]     # "supervised" is the default objective: omitted
    assert a.get("objective", "supervised") == "supervised" and a["steps"] == 2
    assert info["train"]["train_flops"] > 0 and info["train"]["wall_s"] > 0
    r = cli.invoke(app, ["asr", "adapt", *common, "--adapt", "dama", "--data",
                         str(tmp_path / "texts.jsonl"), "--out", str(tmp_path / "z")])
    assert r.exit_code == 2 and "'dama'" in r.output


def test_adapt_bad_out_or_targets_fail_before_the_teacher_pass(tmp_path, monkeypatch):
    """An --out that is a file, or a LoRA target the encoder does not have, is refused before
    any utterance is decoded (they were exit 70 after the teacher pass)."""
    import speechbudget.models.loading as loading
    import speechbudget.tasks.asr.adapt as ad
    from speechbudget.cli import app

    bundle = tiny_bundle(build_tiny_whisper(seed=4))
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: bundle)

    def no_teacher(*a, **k):
        raise AssertionError("the teacher pass ran")
    monkeypatch.setattr(ad, "prepare", no_teacher)
    t = np.arange(int(1.2 * SR)) / SR
    sf.write(tmp_path / "a.wav", (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), SR)
    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "a", "audio": "a.wav"}) + "\n")
    common = ["asr", "adapt", "--window", "4", "--rank", "2", "--steps", "1", "--data",
              str(tmp_path / "m.jsonl")]
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    cli = CliRunner()
    r = cli.invoke(app, [*common, "--out", str(blocker)])
    assert r.exit_code == 6 and "--out" in r.output and str(blocker) in r.output, r.output
    r = cli.invoke(app, [*common, "--out", str(tmp_path / "ad"), "--targets", "q_proj,qkv"])
    assert r.exit_code == 2 and "--targets" in r.output and "qkv" in r.output, r.output
    assert not (tmp_path / "ad").exists()
