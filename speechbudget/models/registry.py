"""Architectures by name -> Hugging Face configs and (weightless) models.

    cfg = hf_config(get_architecture("base"))           # WhisperConfig with the real special ids
    model = build_from_config(get_architecture("wavlm-large"))   # on the meta device: no memory

Whisper's special tokens depend on the vocabulary: the English-only vocab (51864) has
<|endoftext|> = 50256 and <|startoftranscript|> = 50257; the multilingual ones (51865, and 51866
for large-v3 with one more language) shift everything after <|endoftext|> by one.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from speechbudget.architectures import Architecture, Wav2Vec2Dims, WhisperDims, get_architecture


@dataclass(frozen=True)
class WhisperTokens:
    """Special token ids of a Whisper vocabulary."""

    eot: int
    sot: int
    first_language: int
    n_languages: int

    @property
    def english(self) -> int:
        return self.first_language  # <|en|> is the first language token

    @property
    def translate(self) -> int:
        return self.first_language + self.n_languages

    @property
    def transcribe(self) -> int:
        return self.translate + 1

    @property
    def no_speech(self) -> int:
        return self.translate + 4

    @property
    def no_timestamps(self) -> int:
        return self.translate + 5

    @property
    def timestamp_begin(self) -> int:
        return self.translate + 6


WHISPER_VOCAB_SIZES = (51864, 51865, 51866)   # English-only, multilingual, large-v3


def whisper_tokens(vocab_size: int) -> WhisperTokens:
    """Special ids for a Whisper vocabulary size (51864 English-only, 51865, 51866 large-v3)."""
    if vocab_size == 51864:
        return WhisperTokens(eot=50256, sot=50257, first_language=50258, n_languages=99)
    if vocab_size in WHISPER_VOCAB_SIZES[1:]:
        return WhisperTokens(eot=50257, sot=50258, first_language=50259,
                             n_languages=99 + (vocab_size - 51865))
    raise ValueError(f"vocab_size={vocab_size}: not a Whisper vocabulary (expected 51864, 51865 "
                     "or 51866)")


def _arch(arch: Architecture | str) -> Architecture:
    return get_architecture(arch) if isinstance(arch, str) else arch


def whisper_config_from_dims(dims: WhisperDims):
    """A transformers WhisperConfig for the given dimensions, with the vocabulary's special ids."""
    from transformers import WhisperConfig

    tok = whisper_tokens(dims.vocab_size)
    return WhisperConfig(
        vocab_size=dims.vocab_size, num_mel_bins=dims.n_mels, d_model=dims.d_model,
        encoder_layers=dims.encoder_layers, decoder_layers=dims.decoder_layers,
        encoder_attention_heads=dims.n_heads, decoder_attention_heads=dims.n_heads,
        encoder_ffn_dim=dims.ffn_dim, decoder_ffn_dim=dims.ffn_dim,
        max_source_positions=dims.max_source_positions,
        max_target_positions=dims.max_target_positions,
        bos_token_id=50257, eos_token_id=tok.eot, pad_token_id=tok.eot,
        decoder_start_token_id=tok.sot, begin_suppress_tokens=[220, tok.eot],
        tie_word_embeddings=True, architectures=["WhisperForConditionalGeneration"],
    )


def hf_config(arch: Architecture | str):
    """The transformers config of an architecture (WhisperConfig, Wav2Vec2Config, HubertConfig,
    WavLMConfig) with its exact dimensions."""
    arch = _arch(arch)
    d = arch.dims
    if isinstance(d, WhisperDims):
        return whisper_config_from_dims(d)
    assert isinstance(d, Wav2Vec2Dims)
    from transformers import HubertConfig, Wav2Vec2Config, WavLMConfig

    common = dict(
        hidden_size=d.hidden_size, num_hidden_layers=d.num_layers,
        num_attention_heads=d.num_heads, intermediate_size=d.ffn_dim,
        feat_extract_norm=d.feat_extract_norm, do_stable_layer_norm=d.do_stable_layer_norm,
        conv_bias=d.conv_bias, conv_dim=list(d.conv_dim), conv_kernel=list(d.conv_kernel),
        conv_stride=list(d.conv_stride), num_conv_pos_embeddings=d.num_conv_pos_embeddings,
        num_conv_pos_embedding_groups=d.num_conv_pos_embedding_groups,
    )
    if arch.family == "wav2vec2":
        return Wav2Vec2Config(**common, architectures=["Wav2Vec2Model"])
    if arch.family == "hubert":
        return HubertConfig(**common, architectures=["HubertModel"])
    if arch.family == "wavlm":
        return WavLMConfig(**common, num_buckets=d.num_buckets,
                           max_bucket_distance=d.max_bucket_distance, architectures=["WavLMModel"])
    raise ValueError(f"{arch.name}: no Hugging Face config for family {arch.family!r}")


def model_class(arch: Architecture | str) -> type[nn.Module]:
    """WhisperForConditionalGeneration for Whisper, else the bare Wav2Vec2Model/HubertModel/WavLMModel."""
    import transformers

    family = _arch(arch).family
    return {"whisper": transformers.WhisperForConditionalGeneration,
            "wav2vec2": transformers.Wav2Vec2Model,
            "hubert": transformers.HubertModel,
            "wavlm": transformers.WavLMModel}[family]


def build_from_config(arch: Architecture | str, device: str | torch.device = "meta",
                      attn_implementation: str = "eager", config=None) -> nn.Module:
    """A randomly initialised (device "cpu"/"cuda") or weightless ("meta") model of `arch`.
    `config` overrides the registry config (e.g. a tiny one for tests)."""
    arch = _arch(arch)
    cfg = hf_config(arch) if config is None else config
    cfg._attn_implementation = attn_implementation
    cls = model_class(arch)
    with torch.device(device):
        model = cls(cfg)
    # a few parameters are made with the legacy torch.Tensor(...) constructor, which ignores the
    # default device (wav2vec2's masked_spec_embed): move them too
    return model.to(device).eval()
