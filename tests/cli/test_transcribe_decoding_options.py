"""`speechbudget transcribe`'s decoding options (--condition-on-previous-text, --temperature and
its fallback thresholds, --best-of) reach WhisperModel.transcribe_batch; without them it gets
the API's defaults; a bad value is one usage error naming its option (exit 2) before any model
loads; and the fallback runs end to end on the tiny random Whisper of tests/asr."""
from __future__ import annotations

import importlib.util
import inspect
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from speechbudget.cli import app

DECODING = ("condition_on_previous_text", "temperature", "compression_ratio_threshold",
            "logprob_threshold", "no_speech_threshold", "best_of")


def _asr_conftest():
    """tests/asr/conftest.py's helpers (the tiny random Whisper), loaded by path."""
    path = Path(__file__).resolve().parents[1] / "asr" / "conftest.py"
    spec = importlib.util.spec_from_file_location("asr_conftest_for_cli", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _wav(path: Path, seconds: float = 1.0, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size))
             .astype(np.float32), 16000)
    return path


@pytest.fixture
def calls(monkeypatch):
    """WhisperModel replaced by a recorder of transcribe_batch's keyword arguments (the list;
    its `api`: the real transcribe_batch's parameters)."""
    from speechbudget import whisper_model

    class Seen(list):
        api = inspect.signature(whisper_model.WhisperModel.transcribe_batch).parameters
    seen = Seen()

    class Recorder:
        def __init__(self, *a, **k):
            pass

        def transcribe_batch(self, audios, **kw):
            seen.append(kw)
            return [([], SimpleNamespace(text="hello", to_dict=dict)) for _ in audios]
    monkeypatch.setattr(whisper_model, "WhisperModel", Recorder)
    return seen


def _run(wav: Path, *extra: str):
    return CliRunner().invoke(app, ["transcribe", str(wav), "--device", "cpu", "--no-progress",
                                    *extra])


def test_without_the_options_the_api_defaults_are_used(tmp_path, calls):
    from speechbudget.tasks.asr.options import check_fallback
    r = _run(_wav(tmp_path / "a.wav"))
    assert r.exit_code == 0, r.output
    [kw] = calls
    for name in DECODING:
        want = calls.api[name].default
        got = kw[name]
        if name == "temperature":
            want, got = check_fallback(want, 1), check_fallback(got, 1)
        assert got == want and type(got) is type(want), (name, got, want)


@pytest.mark.parametrize("extra,name,value", [
    (["--condition-on-previous-text"], "condition_on_previous_text", True),
    (["--no-condition-on-previous-text"], "condition_on_previous_text", False),
    (["--temperature", "0.3"], "temperature", (0.3,)),
    (["--temperature", "0,0.2,0.4,0.6,0.8,1.0"], "temperature",
     (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)),
    (["--temperature", " 0 , 0.5 ,1"], "temperature", (0.0, 0.5, 1.0)),
    (["--compression-ratio-threshold", "1.8"], "compression_ratio_threshold", 1.8),
    (["--compression-ratio-threshold", "off"], "compression_ratio_threshold", None),
    (["--logprob-threshold", "-0.5"], "logprob_threshold", -0.5),
    (["--logprob-threshold", "None"], "logprob_threshold", None),
    (["--no-speech-threshold", "0.3"], "no_speech_threshold", 0.3),
    (["--no-speech-threshold", "OFF"], "no_speech_threshold", None),
    (["--best-of", "2"], "best_of", 2),
])
def test_each_option_reaches_the_api(tmp_path, calls, extra, name, value):
    r = _run(_wav(tmp_path / "a.wav"), *extra)
    assert r.exit_code == 0, r.output
    [kw] = calls
    assert kw[name] == value, kw


@pytest.mark.parametrize("extra,option", [
    (["--temperature", "-0.2"], "--temperature"),
    (["--temperature", "0,-1"], "--temperature"),
    (["--temperature", "hot"], "--temperature"),
    (["--temperature", ""], "--temperature"),
    (["--temperature", "0,,1"], "--temperature"),
    (["--temperature", "1,0.5"], "--temperature"),
    (["--temperature", "nan"], "--temperature"),
    (["--compression-ratio-threshold", "-1"], "--compression-ratio-threshold"),
    (["--logprob-threshold", "0.5"], "--logprob-threshold"),
    (["--logprob-threshold", "low"], "--logprob-threshold"),
    (["--no-speech-threshold", "1.5"], "--no-speech-threshold"),
    (["--best-of", "0"], "--best-of"),
    (["--condition-on-previous-text", "--longform", "chunks"], "--condition-on-previous-text"),
])
def test_a_bad_value_is_one_line_naming_the_option_exit_2(tmp_path, monkeypatch, extra, option):
    from speechbudget import whisper_model

    def no_model(*a, **k):
        raise AssertionError("the model was loaded before the options were checked")
    monkeypatch.setattr(whisper_model, "WhisperModel", no_model)
    r = _run(_wav(tmp_path / "a.wav"), *extra)
    assert r.exit_code == 2, r.output
    [line] = [x for x in r.output.splitlines() if x.startswith("Error:")]
    assert option in line, line
    assert "Traceback" not in r.output and "internal error" not in r.output


def test_temperature_fallback_runs_end_to_end(tmp_path, monkeypatch):
    """The tiny random Whisper's windows all fail a log-probability threshold of 0, so with the
    fallback every window is decoded again up to the last temperature (the json's per-segment
    temperature); without it every segment is the greedy pass's."""
    from speechbudget.architectures import get_architecture
    from speechbudget.models import loading
    asr = _asr_conftest()
    bundle = asr.tiny_bundle()
    bundle.arch = get_architecture("tiny.en")
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: bundle)
    wav = _wav(tmp_path / "talk.wav", seconds=6.0)
    common = ["--window", "4", "--format", "json", "--logprob-threshold", "0",
              "--no-speech-threshold", "off"]

    def segments(*extra):
        r = _run(wav, *common, *extra)
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        assert doc["segments"], doc
        return doc
    plain = segments()
    assert {s["temperature"] for s in plain["segments"]} == {0.0}
    hot = segments("--temperature", "0,0.5,1", "--best-of", "2")
    assert {s["temperature"] for s in hot["segments"]} == {1.0}
    assert hot["info"]["decoded_tokens"] > plain["info"]["decoded_tokens"]  # every attempt counted
    assert segments("--temperature", "0,0.5,1", "--best-of", "2") == hot  # seeded sampling
