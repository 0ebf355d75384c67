"""The architecture of loaded weights (the registry's when the dimensions match) and the check that
a configuration's architecture is that of the weights it runs."""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from speechbudget.architectures import (ARCHITECTURES, SSL_FAMILIES, Architecture,
                                        UnknownModelError, Wav2Vec2Dims, WhisperDims,
                                        get_architecture)
from speechbudget.models.load_error import ModelLoadError


def architecture_of(name: str, config: Any) -> Architecture:
    """The registry architecture when `name` is one (or its hub id) and its dims match, else an
    Architecture described by the loaded config."""
    try:
        arch = get_architecture(name)
    except UnknownModelError:
        arch = None
    if config.model_type == "whisper":
        dims = WhisperDims(n_mels=config.num_mel_bins, d_model=config.d_model,
                           n_heads=config.encoder_attention_heads,
                           encoder_layers=config.encoder_layers,
                           decoder_layers=config.decoder_layers, vocab_size=config.vocab_size,
                           ffn_dim=config.encoder_ffn_dim,
                           max_source_positions=config.max_source_positions,
                           max_target_positions=config.max_target_positions)
        family = "whisper"
    else:
        if config.model_type not in SSL_FAMILIES:
            raise ModelLoadError(f"{name!r}: a {config.model_type!r} model, expected wav2vec2, "
                                 "HuBERT or WavLM")
        family = config.model_type
        dims = Wav2Vec2Dims(hidden_size=config.hidden_size, num_layers=config.num_hidden_layers,
                            num_heads=config.num_attention_heads, ffn_dim=config.intermediate_size,
                            feat_extract_norm=config.feat_extract_norm,
                            do_stable_layer_norm=config.do_stable_layer_norm,
                            conv_bias=config.conv_bias,
                            num_conv_pos_embeddings=config.num_conv_pos_embeddings,
                            num_conv_pos_embedding_groups=config.num_conv_pos_embedding_groups,
                            conv_dim=tuple(config.conv_dim), conv_kernel=tuple(config.conv_kernel),
                            conv_stride=tuple(config.conv_stride),
                            num_buckets=getattr(config, "num_buckets", 320),
                            max_bucket_distance=getattr(config, "max_bucket_distance", 800))
    if arch is not None and arch.dims == dims:
        return arch
    label = Path(name).name if Path(name).exists() else name
    return Architecture(label, family, name, dims,
                        english_only=family == "whisper" and config.vocab_size == 51864)


# the dimensions a Whisper encoder's FLOPs and outputs depend on (SER uses no decoder)
WHISPER_ENCODER_DIMS = ("n_mels", "d_model", "n_heads", "encoder_layers", "ffn_dim",
                        "max_source_positions")


def _same(a: Architecture, b: Architecture, encoder_only: bool) -> bool:
    if a.family != b.family:
        return False
    if encoder_only and a.is_whisper:
        return all(getattr(a.dims, k) == getattr(b.dims, k) for k in WHISPER_ENCODER_DIMS)
    return a.dims == b.dims


def check_weights_arch(name: str, loaded: Architecture, weights: str | Path,
                       encoder_only: bool = False) -> None:
    """Refuse a configuration's architecture `name` for weights (loaded from `weights`, their
    architecture `loaded`: load_whisper's bundle.arch, or architecture_of their config) that
    are another registry architecture's, or another family's: its FLOPs, memory and time
    would describe one model while the other ran. ConfigError (field "model", exit 2), one
    line naming both. `encoder_only` (SER): compare the encoder's dimensions (Whisper tiny's
    weights serve tiny.en). Weights of no registry architecture (a custom size) are not
    refused: the configuration's architecture is then the one the user chose to describe them."""
    from speechbudget.axes import ConfigError

    want = get_architecture(name)
    if _same(want, loaded, encoder_only):
        return
    known = [a for a in ARCHITECTURES.values() if _same(a, loaded, encoder_only)]
    if want.family == loaded.family and not known:
        return
    # by the sizes whose whole architecture it is (base's weights compared encoder-only match
    # base.en's too, the first in the registry: they were called base.en's), else every size of
    # its encoder
    names = [a.name for a in ([a for a in known if _same(a, loaded, False)] or known)]
    what = " or ".join(f"{n}'s" for n in names) if names else f"a {loaded.family} model's"
    if want.family != loaded.family:
        diff = f"{loaded.family}, not {want.family}"
    else:
        keys = WHISPER_ENCODER_DIMS if encoder_only and want.is_whisper else \
            [f.name for f in fields(want.dims)]
        diff = ", ".join(f"{k}={getattr(loaded.dims, k)} vs {getattr(want.dims, k)}"
                         for k in keys if getattr(loaded.dims, k) != getattr(want.dims, k))
    raise ConfigError("model", name, f"the weights loaded from {weights} are {what}, not "
                      f"{want.name}'s ({diff}); name the architecture of the weights "
                      f"({' or '.join(names) or loaded.family}) or load {want.name}'s "
                      "weights")
