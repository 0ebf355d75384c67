"""Model names as users type them. The registry names (`speechbudget models`: tiny.en, base, ...)
were case-sensitive and whitespace-sensitive: 'Tiny.en', 'TINY.EN', 'tiny.en ' (a name pasted
with its space or newline) were 'unknown model' / 'not a registry name' (speechbudget transcribe
--model Tiny.en: exit 5), while hub ids matched in any case. A name that matched nothing got the
whole list and no hint ('tiny-en'). Short names now match in any case with surrounding
whitespace ignored, an unknown one gets difflib's close matches, and a folder's name is kept as
written."""
from __future__ import annotations

import pytest

from speechbudget.architectures import (ARCHITECTURES, UnknownModelError, close_names,
                                        get_architecture, registry_name)
from speechbudget.axes import Config
from speechbudget.models.load_error import ModelLoadError
from speechbudget.models.loading import load_ssl_backbone
from speechbudget.models.model_names import resolve_whisper


@pytest.mark.parametrize("typed,name", [
    ("Tiny.en", "tiny.en"), ("TINY.EN", "tiny.en"), ("tiny.EN", "tiny.en"),
    ("tiny.en ", "tiny.en"), ("\tbase\n", "base"), (" Whisper-Tiny.en", "tiny.en"),
    ("Large-V3", "large-v3"), ("Distil-Large-V3.5", "distil-large-v3.5"),
    ("WavLM-Large", "wavlm-large"), ("HuBERT-Base", "hubert-base"),
])
def test_short_names_match_in_any_case_without_surrounding_whitespace(typed, name):
    assert registry_name(typed) == name
    assert get_architecture(typed) is ARCHITECTURES[name]
    assert Config(task="asr" if ARCHITECTURES[name].is_whisper else "ser",
                  model=typed).model == name


def test_valid_names_resolve_as_before():
    for name, arch in ARCHITECTURES.items():
        assert get_architecture(name) is arch
        assert get_architecture(arch.hub_id) is arch
        assert get_architecture(arch.hub_id.upper()) is arch
        assert registry_name(name) == name
    assert registry_name("openai/whisper-tiny.en") is None  # a hub id, not a registry name
    assert get_architecture("whisper-tiny.en").name == "tiny.en"


@pytest.mark.parametrize("typed,want", [
    ("tiny-en", ["tiny.en"]), ("tiny_en", ["tiny.en"]), ("smal", ["small"]),
    ("turbo", ["large-v3-turbo"]), ("wavlm", ["wavlm-base-plus", "wavlm-large"]),
])
def test_an_unknown_name_suggests_close_ones(typed, want):
    assert close_names(typed)[:len(want)] == want
    with pytest.raises(UnknownModelError) as e:
        get_architecture(typed)
    msg = str(e.value)
    assert msg.startswith(f"unknown model {typed!r}: expected one of tiny.en, ")
    assert "did you mean " + repr(want[0]) in msg, msg


def test_a_name_like_nothing_gets_no_suggestion():
    with pytest.raises(UnknownModelError) as e:
        get_architecture("qqqq")
    assert "did you mean" not in str(e.value)


@pytest.mark.parametrize("typed", ["Tiny.en", "TINY.EN", "tiny.en ", "whisper-tiny.en"])
def test_load_whisper_reads_any_spelling_as_the_registry_name(typed):
    assert resolve_whisper(typed)[:2] == resolve_whisper("tiny.en")[:2]


def test_an_unknown_whisper_name_names_the_close_one():
    with pytest.raises(ModelLoadError, match=r"'tiny-en': no such folder, and not a registry "
                                             r"name .*; did you mean 'tiny\.en'\?$"):
        resolve_whisper("tiny-en")


def test_a_hub_id_with_surrounding_whitespace_is_the_hub_id():
    assert resolve_whisper(" openai/whisper-small\n")[:2] == ("openai/whisper-small",
                                                             "hub:openai/whisper-small")


def test_a_folder_name_is_never_case_folded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Tiny.en").mkdir()  # an empty folder of that name: read as the folder
    with pytest.raises(ModelLoadError, match="neither a Hugging Face model folder"):
        resolve_whisper("Tiny.en")
    (tmp_path / "tiny.en ").mkdir()
    with pytest.raises(ModelLoadError, match="neither a Hugging Face model folder"):
        resolve_whisper("tiny.en ")


def test_ssl_backbone_names_match_in_any_case():
    # the registry name is found (so 'a Whisper model' rather than 'not a registry name')
    with pytest.raises(ModelLoadError, match="'tiny.en' is a Whisper model: use load_whisper"):
        load_ssl_backbone("Tiny.en")
    with pytest.raises(ModelLoadError, match=r"did you mean 'wavlm-large'\?$"):
        load_ssl_backbone("wavlm-lage")
