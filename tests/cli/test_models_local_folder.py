"""`asr eval --model FOLDER` with a local copy of a registry model's weights (a CTranslate2
folder, or its Hugging Face conversion): the configuration names the registry architecture of
the weights' dimensions. It named the folder ('invalid model='ct2_copy': expected one of
tiny.en, ...', exit 2), while `transcribe --model FOLDER` and `WhisperModel(FOLDER)` ran."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from speechbudget.models.offline import offline_source

SOURCE = offline_source("tiny.en")
pytestmark = pytest.mark.skipif(SOURCE is None, reason="offline tiny.en weights not installed")


def test_a_ct2_copy_of_tiny_en_is_named_tiny_en(tmp_path, monkeypatch):
    from speechbudget.cli.asr_cmd import resolve_model

    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "cache"))
    d = tmp_path / "my copy"
    d.mkdir()
    for f in SOURCE.folder.iterdir():
        if f.is_file():
            (d / f.name).symlink_to(f)
    assert resolve_model(str(d)) == ("tiny.en", str(d))
    hf = next(p for p in (tmp_path / "cache" / "ct2-hf").iterdir() if p.is_dir())  # converted
    shutil.copytree(hf, tmp_path / "hf copy")
    assert resolve_model(str(tmp_path / "hf copy")) == ("tiny.en", str(tmp_path / "hf copy"))
