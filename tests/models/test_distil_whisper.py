"""Distil-Whisper in the registry: its rows' dimensions against the published parameter counts
(models built on the meta device: no memory, no weights), its names and hub ids, the
English-only rule, and a folder of its weights named by its registry name."""
from __future__ import annotations

import pytest
import torch

from speechbudget.architectures import ARCHITECTURES, Architecture, get_architecture
from speechbudget.axes import ConfigError
from speechbudget.flops.estimate import prompt_tokens_for
from speechbudget.models.registry import whisper_config_from_dims
from speechbudget.models.weights_arch import check_weights_arch

DISTIL = {  # name: (hub id, published parameters in millions: Distil-Whisper README)
    "distil-large-v3": ("distil-whisper/distil-large-v3", 756),
    "distil-large-v3.5": ("distil-whisper/distil-large-v3.5", 756),
    "distil-large-v2": ("distil-whisper/distil-large-v2", 756),
    "distil-medium.en": ("distil-whisper/distil-medium.en", 394),
    "distil-small.en": ("distil-whisper/distil-small.en", 166),
}
PUBLISHED_M = {**{n: m for n, (_, m) in DISTIL.items()}, "large-v3": 1550, "large-v3-turbo": 809}


def _meta_count(name: str) -> int:
    from transformers import WhisperForConditionalGeneration

    cfg = whisper_config_from_dims(ARCHITECTURES[name].dims)
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(cfg)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list(PUBLISHED_M))
def test_dims_give_the_published_parameter_count(name):
    # a wrong row (decoder layers, d_model, vocabulary) is off by far more than 1%
    n = _meta_count(name)
    published = PUBLISHED_M[name] * 1e6
    assert abs(n - published) <= 0.01 * published, (name, n / 1e6, PUBLISHED_M[name])


def test_rows_are_the_teachers_encoder_with_a_short_decoder():
    for name, teacher, dec in [("distil-large-v3", "large-v3", 2),
                               ("distil-large-v3.5", "large-v3", 2),
                               ("distil-large-v2", "large-v2", 2),
                               ("distil-medium.en", "medium.en", 2),
                               ("distil-small.en", "small.en", 4)]:
        d, t = ARCHITECTURES[name].dims, ARCHITECTURES[teacher].dims
        assert d.decoder_layers == dec, name
        for k in ("n_mels", "d_model", "n_heads", "encoder_layers", "vocab_size", "ffn_dim",
                  "max_source_positions", "max_target_positions"):
            assert getattr(d, k) == getattr(t, k), (name, k)


@pytest.mark.parametrize("name", list(DISTIL))
def test_names_and_hub_ids(name):
    hub, _ = DISTIL[name]
    arch = ARCHITECTURES[name]
    assert arch.is_whisper and arch.hub_id == hub
    assert get_architecture(hub) is arch and get_architecture(hub.upper()) is arch


@pytest.mark.parametrize("name", [n for n, a in ARCHITECTURES.items() if a.is_whisper])
def test_english_only_is_the_english_vocabulary(name):
    # the name rule (.en) must agree with what loading decides from the weights (vocab 51864):
    # the prompt the FLOPs count (2 tokens English-only, 4 multilingual) is the one decoded
    arch = ARCHITECTURES[name]
    assert arch.english_only == (arch.dims.vocab_size == 51864), name
    assert prompt_tokens_for(arch.english_only) == (2 if arch.dims.vocab_size == 51864 else 4)


def test_distil_large_v3_is_multilingual():
    a = ARCHITECTURES["distil-large-v3"]
    assert not a.english_only and a.dims.vocab_size == 51866 and a.dims.n_mels == 128


def test_a_local_folder_of_distil_weights_has_its_registry_name():
    from speechbudget.tasks.asr.transcribe import registry_name

    small = ARCHITECTURES["distil-small.en"]
    folder = Architecture("my-distil", "whisper", "/models/my-distil", small.dims,
                          english_only=True)
    assert registry_name(folder) == "distil-small.en"


def test_distil_weights_are_not_taken_for_the_teachers():
    # a configuration naming large-v3 run with distil-large-v3's weights would count a
    # 32-layer decoder; refused, naming the weights' architecture
    with pytest.raises(ConfigError, match="distil-large-v3's"):
        check_weights_arch("large-v3", ARCHITECTURES["distil-large-v3"], "/w")
    check_weights_arch("large-v3", ARCHITECTURES["distil-large-v3"], "/w", encoder_only=True)
    check_weights_arch("distil-large-v3.5", ARCHITECTURES["distil-large-v3"], "/w")
