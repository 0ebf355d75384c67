"""`speechbudget transcribe` and `asr eval` on bad command lines: an --output-dir that cannot be
written, or inputs whose outputs would overwrite each other, fail before any model loads with
exit 6 (OutputError); a precision the device cannot run is a --precision usage error."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app

from .conftest import noisy_tone_wav as _wav


@pytest.fixture
def no_model(monkeypatch):
    """Loading a model is an error: the command must fail before it."""
    from speechbudget.models import loading

    def boom(*a, **k):
        raise AssertionError("the model was loaded before the output folder was checked")
    monkeypatch.setattr(loading, "load_whisper", boom)


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_unwritable_output_dir_is_exit_6_before_loading(tmp_path, no_model, where):
    wav = _wav(tmp_path / "talk.wav")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    out = blocker if where == "file" else blocker / "sub"
    r = CliRunner().invoke(app, ["transcribe", str(wav), "--device", "cpu", "--no-progress",
                                 "--format", "srt", "--output-dir", str(out)])
    assert r.exit_code == 6, r.output
    assert "--output-dir" in r.output and str(out) in r.output, r.output
    assert "internal error" not in r.output


def test_two_inputs_with_one_stem_are_refused_not_overwritten(tmp_path, no_model):
    a = _wav(tmp_path / "a" / "talk.wav", seed=1)
    b = _wav(tmp_path / "b" / "talk.flac", seed=2)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["transcribe", str(a), str(b), "--device", "cpu",
                                 "--no-progress", "--format", "json", "-o", str(out)])
    assert r.exit_code == 6, r.output
    assert str(a) in r.output and str(b) in r.output and "talk.json" in r.output, r.output
    assert not (out / "talk.json").exists()


def test_same_file_twice_is_not_a_collision(tmp_path, monkeypatch, fake_bundle):
    from speechbudget.architectures import get_architecture
    from speechbudget.models import loading
    fake_bundle.arch = get_architecture("tiny.en")
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: fake_bundle)
    wav = _wav(tmp_path / "talk.wav")
    out = tmp_path / "new" / "out"
    r = CliRunner().invoke(app, ["transcribe", str(wav), str(tmp_path / "." / "talk.wav"),
                                 "--device", "cpu", "--no-progress", "--window", "4",
                                 "--format", "vtt", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "talk.vtt").read_text().startswith("WEBVTT")


def test_asr_eval_precision_the_device_cannot_run_names_precision(tmp_path, monkeypatch,
                                                                  fake_bundle):
    import json

    from speechbudget.architectures import get_architecture
    from speechbudget.models import loading
    fake_bundle.arch = get_architecture("tiny.en")
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: fake_bundle)
    wav = _wav(tmp_path / "u1.wav")
    man = tmp_path / "m.jsonl"
    man.write_text(json.dumps({"id": "u1", "audio": str(wav), "text": "w1 w2"}) + "\n")
    r = CliRunner().invoke(app, ["asr", "eval", "--data", str(man), "--device", "cpu",
                                 "--no-progress", "--precision", "fp16"])
    assert r.exit_code == 2, r.output
    assert "--precision" in r.output and "--adapter" not in r.output, r.output
