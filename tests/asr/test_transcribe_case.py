"""`transcribe -o DIR` with two inputs whose output names differ only in case (`A.wav`, `a.wav`)
or in Unicode normalisation (composed and decomposed `é`): distinct files here, one output file
on macOS / Windows, where the second silently replaced the first. Refused before any model loads
(exit 6), as two inputs with one stem are."""
from __future__ import annotations

import unicodedata

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.cli.transcribe_output import output_key

from .conftest import noisy_tone_wav


@pytest.fixture
def no_model(monkeypatch):
    from speechbudget.cli import transcribe as cmd

    def boom(*a, **k):
        raise AssertionError("transcription started before the outputs were checked")
    monkeypatch.setattr(cmd, "transcribe_files", boom)


def _cli(*args):
    return CliRunner().invoke(app, ["transcribe", *map(str, args), "--device", "cpu",
                                    "--no-progress"])


NFC, NFD = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")


@pytest.mark.parametrize("first,second", [("Talk", "talk"), ("TALK", "tAlK"), (NFC, NFD),
                                          ("ΟΔΟΣ", "οδος")])
def test_names_one_file_system_would_merge_are_refused(tmp_path, no_model, first, second):
    a = noisy_tone_wav(tmp_path / "in" / f"{first}.wav", seed=1)
    b = noisy_tone_wav(tmp_path / "in" / f"{second}.flac", seed=2)
    if not (a.exists() and b.exists() and a.resolve() != b.resolve()):
        pytest.skip("this file system already merges the two names")
    out = tmp_path / "out"
    r = _cli(a, b, "--format", "srt", "-o", out)
    assert r.exit_code == 6, r.output
    text = " ".join(r.output.split())
    assert str(a) in text and str(b) in text and "case" in text, r.output
    assert not out.exists() or not any(out.iterdir())


def test_distinct_names_and_one_file_twice_pass_the_check(tmp_path, monkeypatch):
    from pathlib import Path

    from speechbudget.cli import transcribe as cmd
    seen = []
    monkeypatch.setattr(cmd, "transcribe_files",
                        lambda files, *a, **k: seen.append(list(map(Path, files))) or [])
    a = noisy_tone_wav(tmp_path / "Talk.wav", seed=1)
    b = noisy_tone_wav(tmp_path / "Talk2.wav", seed=2)
    r = _cli(a, b, a, "-o", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert seen == [[a, b, a]]


def test_output_key():
    assert output_key("A") == output_key("a") and output_key(NFC) == output_key(NFD)
    assert output_key("a") != output_key("b")
    assert output_key("straße") != output_key("STRASSE")  # not one-to-one: no file system merges
