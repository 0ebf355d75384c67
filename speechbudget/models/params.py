"""Parameter counts by arithmetic on an architecture's dimensions (no model is built).

Convention: the count equals `sum(p.numel() for p in model.parameters())` of the Hugging Face model
that `registry.build_from_config` builds, i.e.
  * Whisper: WhisperForConditionalGeneration; `proj_out` is tied to the token embedding and counted
    once; the (frozen, sinusoidal) encoder positional table *is* counted, as HF holds it as a
    parameter.
  * wav2vec2 / HuBERT / WavLM: the bare Wav2Vec2Model / HubertModel / WavLMModel (no CTC or
    classification head), including `masked_spec_embed` and the weight-normed positional conv
    (weight_g + weight_v).
"""
from __future__ import annotations

from speechbudget.architectures import Architecture, Wav2Vec2Dims, WhisperDims, get_architecture


def _linear(d_in: int, d_out: int, bias: bool = True) -> int:
    return d_in * d_out + (d_out if bias else 0)


def _norm(d: int) -> int:
    return 2 * d


def _attention(d: int) -> int:
    """q, v, out with bias; k without (Whisper)."""
    return 3 * _linear(d, d) + _linear(d, d, bias=False)


def whisper_params(w: WhisperDims) -> dict[str, int]:
    d, f = w.d_model, w.ffn_dim
    ffn = _linear(d, f) + _linear(f, d)
    enc_layer = _attention(d) + _norm(d) + ffn + _norm(d)
    dec_layer = 2 * (_attention(d) + _norm(d)) + ffn + _norm(d)
    encoder = (w.n_mels * d * 3 + d) + (d * d * 3 + d) + w.max_source_positions * d \
        + w.encoder_layers * enc_layer + _norm(d)
    decoder = w.vocab_size * d + w.max_target_positions * d + w.decoder_layers * dec_layer + _norm(d)
    return {"encoder": encoder, "decoder": decoder}


def ssl_params(w: Wav2Vec2Dims, family: str) -> dict[str, int]:
    H, F = w.hidden_size, w.ffn_dim
    # CNN feature encoder
    conv, c_in = 0, 1
    for i, (c, k) in enumerate(zip(w.conv_dim, w.conv_kernel)):
        conv += c_in * c * k + (c if w.conv_bias else 0)
        if w.feat_extract_norm == "layer" or i == 0:  # LayerNorm per layer, or one GroupNorm
            conv += 2 * c
        c_in = c
    projection = _norm(w.conv_dim[-1]) + _linear(w.conv_dim[-1], H)
    masked_spec_embed = H
    k = w.num_conv_pos_embeddings
    pos_conv = H * (H // w.num_conv_pos_embedding_groups) * k + k + H  # weight_v, weight_g, bias
    attention = 4 * _linear(H, H)
    if family == "wavlm":  # gated relative position bias: gru_rel_pos_linear (head_dim -> 8) + const
        attention += _linear(H // w.num_heads, 8) + w.num_heads
    layer = attention + _norm(H) + _linear(H, F) + _linear(F, H) + _norm(H)
    encoder = pos_conv + _norm(H) + w.num_layers * layer
    if family == "wavlm":  # relative position embedding table, in the first layer only
        encoder += w.num_buckets * w.num_heads
    return {"feature_encoder": conv, "feature_projection": projection,
            "masked_spec_embed": masked_spec_embed, "encoder": encoder}


def param_breakdown(arch: Architecture | str) -> dict[str, int]:
    arch = get_architecture(arch) if isinstance(arch, str) else arch
    if isinstance(arch.dims, WhisperDims):
        return whisper_params(arch.dims)
    return ssl_params(arch.dims, arch.family)


def param_count(arch: Architecture | str) -> int:
    """Number of parameters (see the module docstring for what is counted)."""
    return sum(param_breakdown(arch).values())
