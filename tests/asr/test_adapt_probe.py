"""Defects found by probing `asr adapt` / `asr eval` (tiny random Whisper, loader patched)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from .conftest import build_tiny_whisper, tiny_bundle

SR = 16000


def _strict(text: str):
    def refuse(c):
        raise ValueError(f"not strict JSON: {c}")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def patched(monkeypatch):
    import speechbudget.models.loading as loading
    bundle = tiny_bundle(build_tiny_whisper(seed=4))
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: bundle)
    return bundle


def _wavs(folder, n=3, texts=None, name="manifest.jsonl"):
    rows = []
    for i in range(n):
        t = np.arange(int((1.2 + 0.5 * i) * SR)) / SR
        sf.write(folder / f"a{i}.wav", (0.3 * np.sin(2 * np.pi * (180 + 90 * i) * t))
                 .astype(np.float32), SR, subtype="FLOAT")
        rows.append({"id": f"a{i}", "audio": f"a{i}.wav",
                     "text": texts[i] if texts else "w1 w2"})
    (folder / name).write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return folder / name


def test_eval_json_is_strict_when_every_utterance_failed(tmp_path, patched):
    """`asr eval --json` / `-o` printed `"value": NaN` when no utterance could be scored."""
    from speechbudget.cli import app
    (tmp_path / "bad.wav").write_bytes(b"RIFFxxxxjunk")
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"id": "b", "audio": "bad.wav",
                                                         "text": "w1"}) + "\n")
    out = tmp_path / "m.json"
    r = CliRunner().invoke(app, ["asr", "eval", "--data", str(tmp_path), "--json",
                                 "--no-progress", "-o", str(out)])
    assert r.exit_code == 1, r.output
    doc = _strict(r.stdout)
    assert doc["metrics"]["value"] is None and doc["metrics"]["n_failed"] == 1
    assert _strict(out.read_text())["metrics"]["value"] is None
