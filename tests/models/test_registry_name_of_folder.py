"""tasks.asr.transcribe.registry_name of a local folder named like a registry architecture: the
FLOPs follow the weights' dimensions, never the folder's name."""
from __future__ import annotations

from dataclasses import replace

import pytest

from speechbudget.architectures import ARCHITECTURES, Architecture
from speechbudget.axes import ConfigError
from speechbudget.tasks.asr.transcribe import registry_name


def _folder(label: str, like: str, **dims) -> Architecture:
    a = ARCHITECTURES[like]
    return Architecture(label, "whisper", f"/models/{label}", replace(a.dims, **dims),
                        english_only=a.english_only)


def test_a_folder_named_for_the_teacher_holding_distil_weights():
    # was 'large-v3': its 32-layer decoder counted for a 2-layer one (16x the decoder FLOPs)
    assert registry_name(_folder("large-v3", "distil-large-v3")) == "distil-large-v3"
    assert registry_name(_folder("tiny.en", "base")) == "base"


def test_of_two_with_the_same_dimensions_the_one_it_is_named_for():
    assert registry_name(_folder("distil-large-v3.5", "distil-large-v3")) == "distil-large-v3.5"
    assert registry_name(_folder("distil-large-v3", "distil-large-v3.5")) == "distil-large-v3"
    assert registry_name(_folder("tiny.en", "tiny.en")) == "tiny.en"


def test_a_folder_named_tiny_en_of_no_known_dimensions_is_refused(tmp_path):
    # a random 16-wide Whisper in a folder 'tiny.en' was transcribed with tiny.en's FLOPs
    from speechbudget.models.loading import load_whisper
    from tests.models.test_loading import tiny_whisper_folder

    tiny_whisper_folder(tmp_path / "tiny.en")
    bundle = load_whisper(str(tmp_path / "tiny.en"))
    with pytest.raises(ConfigError, match="dimensions of a known architecture"):
        registry_name(bundle.arch)
    with pytest.raises(ConfigError, match="d_model=16"):
        registry_name(_folder("tiny.en", "tiny.en", d_model=16))
