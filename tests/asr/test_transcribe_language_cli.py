"""`speechbudget transcribe --language CODE|auto --task transcribe|translate`: bad values refused
before any model loads (usage error, exit 2, naming the option, with close codes), and the json
info of a multilingual model's detection (language, language_probability)."""
from __future__ import annotations

import json

import pytest

from tests.asr.conftest import noisy_tone_wav, run_transcribe_cli


@pytest.fixture
def refuse_loading(monkeypatch):
    """Any model load fails the test: the refusals come before it."""
    import speechbudget.models.loading as loading

    def no(*a, **k):
        raise AssertionError("a model was loaded")
    monkeypatch.setattr(loading, "load_whisper", no)


@pytest.mark.parametrize("args,flag,says", [
    (["--model", "base", "--language", "german"], "--language", "did you mean de"),
    (["--model", "base", "--language", "zz"], "--language", "base's 99 language codes"),
    (["--model", "large-v3", "--language", "yu"], "--language", "yue"),
    (["--model", "tiny.en", "--language", "de"], "--language", "en or auto"),
    (["--model", "tiny.en", "--task", "translate"], "--task", "English-only"),
    (["--model", "base", "--task", "translat"], "--task", "transcribe or translate"),
])
def test_bad_language_or_task_is_a_usage_error(tmp_path, refuse_loading, args, flag, says):
    r = run_transcribe_cli([str(noisy_tone_wav(tmp_path / "a.wav")), *args])
    assert r.exit_code == 2, r.output
    assert flag in r.output and says in r.output
    assert "Traceback" not in r.output


@pytest.mark.slow
def test_json_reports_the_detected_language(bundled_librispeech, base_whisper):
    audio = sorted((bundled_librispeech / "audio").rglob("*.flac"))[0]
    r = run_transcribe_cli([str(audio), "--model", "base", "--format", "json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)["info"]
    assert info["language"] == "en" and 0.5 < info["language_probability"] <= 1.0
    assert info["task"] == "transcribe" and info["all_language_probs"][0][0] == "en"
    r = run_transcribe_cli([str(audio), "--model", "base", "--format", "json", "--language",
                            "de", "--task", "translate"])
    info = json.loads(r.stdout)["info"]
    assert (info["language"], info["language_probability"], info["task"]) == ("de", 1.0,
                                                                              "translate")
    assert "all_language_probs" not in info


@pytest.mark.parametrize("args,flag", [
    (["--language-detection-segments", "0"], "--language-detection-segments"),
    (["--language-detection-segments", "1.5"], "--language-detection-segments"),
    (["--language-detection-threshold", "1.5"], "--language-detection-threshold"),
    (["--language-detection-threshold", "nan"], "--language-detection-threshold")])
def test_bad_detection_options_are_usage_errors(tmp_path, refuse_loading, args, flag):
    r = run_transcribe_cli([str(noisy_tone_wav(tmp_path / "a.wav")), "--model", "base", *args])
    assert r.exit_code == 2, r.output
    assert flag in r.output and "Traceback" not in r.output


class Reached(Exception):
    """Raised by the stand-in model where the options arrive."""


@pytest.mark.parametrize("batched", [False, True])
def test_detection_options_reach_the_model(tmp_path, monkeypatch, batched):
    """--language-detection-segments/-threshold are passed to WhisperModel.transcribe_batch and,
    with --batched, to BatchedInferencePipeline.transcribe (through batched_one)."""
    import speechbudget.cli.transcribe as cli
    import speechbudget.whisper_model as wm
    seen = {}

    class Model:
        def __init__(self, *a, **k):
            pass

        def transcribe_batch(self, audios, **kw):
            seen.update(kw)
            raise Reached

    def one(*a, detection=None, **k):
        seen.update(detection)
        raise Reached
    monkeypatch.setattr(wm, "WhisperModel", Model)
    monkeypatch.setattr(cli, "batched_one", one)
    r = run_transcribe_cli([str(noisy_tone_wav(tmp_path / "a.wav")), "--model", "base",
                            "--language-detection-segments", "3",
                            "--language-detection-threshold", "0.8",
                            *(["--batched"] if batched else [])])
    assert "Reached" in r.output, r.output      # the stand-in was called (an internal error)
    assert (seen["language_detection_segments"], seen["language_detection_threshold"]) == (3, 0.8)
