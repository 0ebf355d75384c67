"""`asr eval --model openai/whisper-tiny.en` reads the hub id as the registry architecture tiny.en
and so ran the bundled offline weights, while `transcribe` / `WhisperModel` load the hub id itself;
nothing said which weights ran. The output now says it ('weights: SOURCE', as load_whisper's
bundle describes it: models.loading.weights_source) and the JSON holds it as `model_source`."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import speechbudget.models.loading as loading
import speechbudget.models.model_names as model_names
from speechbudget.models.ct2_to_hf import CT2Source
from tests.models.test_ct2 import tiny_whisper, write_ct2_folder
from tests.models.test_loading import save_tokenizer

from .conftest import build_tiny_whisper, tiny_bundle, tone_rows


@pytest.fixture
def bundled(tmp_path, monkeypatch):
    """A tiny CTranslate2 model standing in for the bundled tiny.en package."""
    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "cache"))
    d = write_ct2_folder(tmp_path / "stand_in", tiny_whisper(seed=1), "float16")
    save_tokenizer(d)
    src = CT2Source(files=[d / "model.bin"], folder=d, name="tiny.en")
    monkeypatch.setattr(model_names, "offline_source", lambda n: src if n == "tiny.en" else None)
    return d


def test_weights_source_is_the_bundles(bundled, tmp_path):
    assert loading.weights_source("tiny.en") == loading.load_whisper("tiny.en").source
    assert str(bundled) in loading.weights_source("whisper-tiny.en")
    assert loading.weights_source("openai/whisper-tiny.en") == "hub:openai/whisper-tiny.en"
    assert loading.weights_source(str(bundled)) == loading.load_whisper(str(bundled)).source


def test_asr_eval_reports_the_weights_it_used(bundled, tmp_path, monkeypatch):
    from speechbudget.cli import app

    bundle = tiny_bundle(build_tiny_whisper(seed=4))   # runs in place of the stand-in's weights
    asked = []
    monkeypatch.setattr(loading, "load_whisper", lambda name, **k: asked.append(name) or bundle)
    rows = [{**r, "text": "w1 w2"} for r in tone_rows(tmp_path, "a", [1.2], 180)]
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    common = ["asr", "eval", "--model", "openai/whisper-tiny.en", "--window", "4",
              "--data", str(tmp_path), "--device", "cpu", "--no-progress"]
    r = CliRunner().invoke(app, [*common, "--json"])
    assert r.exit_code == 0, r.output
    source = json.loads(r.output)["model_source"]
    assert source.startswith("offline:") and str(bundled) in source
    assert asked == ["tiny.en"]          # the registry name's weights, not the hub id's
    r = CliRunner().invoke(app, common)
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert f"weights: {source}" in text
    assert "--model openai/whisper-tiny.en: the registry architecture tiny.en" in text
