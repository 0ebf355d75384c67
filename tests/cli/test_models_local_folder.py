"""`asr eval --model FOLDER` with a local copy of a registry model's weights (a CTranslate2
folder, or its Hugging Face conversion): the configuration names the registry architecture of
the weights' dimensions. It named the folder ('invalid model='ct2_copy': expected one of
tiny.en, ...', exit 2), while `transcribe --model FOLDER` and `WhisperModel(FOLDER)` ran."""
from __future__ import annotations

import shutil

import pytest

from speechbudget.models.offline import offline_source

SOURCE = offline_source("tiny.en")


def _linked_copy(d):
    """A folder `d` of links to the bundled tiny.en CTranslate2 files (a user's local copy)."""
    d.mkdir()
    for f in SOURCE.folder.iterdir():
        if f.is_file():
            (d / f.name).symlink_to(f)
    return d
pytestmark = pytest.mark.skipif(SOURCE is None, reason="offline tiny.en weights not installed")


def test_a_ct2_copy_of_tiny_en_is_named_tiny_en(tmp_path, monkeypatch):
    from speechbudget.cli.asr_cmd import resolve_model

    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "cache"))
    d = _linked_copy(tmp_path / "my copy")
    assert resolve_model(str(d)) == ("tiny.en", str(d))
    hf = next(p for p in (tmp_path / "cache" / "ct2-hf").iterdir() if p.is_dir())  # converted
    shutil.copytree(hf, tmp_path / "hf copy")
    assert resolve_model(str(tmp_path / "hf copy")) == ("tiny.en", str(tmp_path / "hf copy"))


def test_ser_names_a_ct2_copy_of_tiny_en_by_its_architecture(tmp_path, monkeypatch):
    """`ser train --model CT2_FOLDER` said 'its dimensions match no known architecture; pass
    --arch NAME': the folder's config.json (CTranslate2's) has no dimensions."""
    from speechbudget.cli.ser_cmd import _model_name

    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "cache"))
    d = _linked_copy(tmp_path / "ct2")
    assert _model_name(str(d), None) == "tiny.en"


def test_ser_loads_a_ct2_folder_as_whisper(tmp_path, monkeypatch):
    """A CTranslate2 folder has a config.json without model_type: SER took it for a wav2vec2
    folder ('a CTranslate2 model folder (model.bin): only Whisper models are read in that
    format', exit 5, from `ser train --model CT2_FOLDER --arch tiny.en`)."""
    from speechbudget.tasks.ser.backbone import load_encoder

    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "cache"))
    d = _linked_copy(tmp_path / "ct2")
    assert (d / "config.json").is_file()
    encoder, is_whisper, n_mels = load_encoder(str(d))
    assert is_whisper and n_mels == 80 and encoder.config.d_model == 384


def test_ser_names_a_distil_folder_by_its_decoder_too(tmp_path):
    """distil-large-v3 has large-v3's encoder: a folder of its config is distil-large-v3 (its
    decoder's 2 layers decide), a folder with large-v3's 32 decoder layers is large-v3."""
    import json

    from speechbudget.cli.ser_cmd import _model_name
    for name, dec in (("distil", 2), ("full", 32)):
        d = tmp_path / name
        d.mkdir()
        (d / "config.json").write_text(json.dumps({
            "model_type": "whisper", "d_model": 1280, "encoder_layers": 32,
            "decoder_layers": dec, "num_mel_bins": 128, "vocab_size": 51866}))
    assert _model_name(str(tmp_path / "distil"), None) == "distil-large-v3"
    assert _model_name(str(tmp_path / "full"), None) == "large-v3"
