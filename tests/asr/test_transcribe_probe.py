"""Probes of what `speechbudget transcribe` and `speechbudget.WhisperModel` hand back, as a
faster-whisper / openai-whisper user would use them (tiny random model; no real weights)."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app

from .conftest import noisy_tone_wav as _wav


@pytest.fixture
def fake_model(monkeypatch, fake_bundle):
    from speechbudget.architectures import get_architecture
    from speechbudget.models import loading
    fake_bundle.arch = get_architecture("tiny.en")
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: fake_bundle)
    return fake_bundle


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_several_files_printed_as_srt_or_vtt_are_refused_before_loading(tmp_path, monkeypatch,
                                                                        fmt):
    # `transcribe a.flac b.flac --format srt` printed two SRT documents run together: the second
    # one's cue "1" directly after the first one's last text line (no blank line, so one cue to a
    # parser), cue numbers restarting, and nothing saying which file a cue came from
    from speechbudget.models import loading

    def boom(*a, **k):
        raise AssertionError("the model was loaded before the command line was checked")
    monkeypatch.setattr(loading, "load_whisper", boom)
    a, b = _wav(tmp_path / "a.wav", seed=1), _wav(tmp_path / "b.wav", seed=2)
    r = CliRunner().invoke(app, ["transcribe", str(a), str(b), "--device", "cpu",
                                 "--no-progress", "--format", fmt])
    assert r.exit_code == 2, r.output
    assert "--format" in r.output and "--output-dir" in r.output, r.output


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_several_files_as_srt_or_vtt_into_a_folder_still_work(tmp_path, fake_model, fmt):
    a, b = _wav(tmp_path / "a.wav", seed=1), _wav(tmp_path / "b.wav", seed=2)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["transcribe", str(a), str(b), "--device", "cpu", "--window",
                                 "4", "--no-progress", "--format", fmt, "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == [f"a.{fmt}", f"b.{fmt}"]


def test_one_file_printed_as_srt_still_prints(tmp_path, fake_model):
    a = _wav(tmp_path / "a.wav", seed=1)
    r = CliRunner().invoke(app, ["transcribe", str(a), "--device", "cpu", "--window", "4",
                                 "--no-progress", "--format", "srt"])
    assert r.exit_code == 0, r.output

