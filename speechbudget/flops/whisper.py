"""Whisper FLOPs as plain arithmetic, next to the model they describe (openai/whisper model.py).

d = d_model, F = ffn_dim (4d), V = vocab, L = encoder layers, Ld = decoder layers.
1 multiply-add = 2 FLOPs; a linear [t, i] -> [t, o] costs 2·t·i·o; attention over t queries and
u keys costs 2·t·u·d for QK^T plus 2·t·u·d for AV (all heads together).

Encoder, `frames` mel frames, token stride s applied after k layers (k = L for "output"):
    conv1  Conv1d(n_mels, d, 3, pad 1)          2·frames·n_mels·d·3
    conv2  Conv1d(d, d, 3, stride 2, pad 1)      2·T·d·d·3            T = ceil(frames / 2)
    layer on t tokens: q, k, v, out projections  4 · 2·t·d²
                       QK^T and AV               2 · 2·t²·d
                       fc1, fc2                  2 · 2·t·d·F
    layers 0..k-1 run on T tokens, layers k..L-1 on T' = ceil(T / s).
    Token subsampling ("mean": one add per element of each group, "drop": none) is element-wise:
    not counted (the mean's adds are listed under `elementwise`).
    pool "attn" (models.whisper_encoder.TokenSelector) recomputes the saliency layer's q and k
    projections and QK^T on the T full-resolution tokens, listed apart as `encoder.attn_select`:
                                                 2 · 2·T·d²  +  2·T²·d
    (softmax, the sums over heads and queries and the sort are element-wise: not counted).

Decoder (greedy; beam b runs b hypotheses as a batch: everything below x b, as HF generate does,
which expands the encoder output per beam). Prompt P tokens, n generated tokens (incl. <|endoftext|>):
    the prompt is fed in one pass (its causal P x P scores are computed in full, as dense kernels
    do), then each generated token but the last is fed back one at a time with the KV cache:
    N = P + n - 1 positions in all; self-attention keys summed over them
    K = P² + Σ_{j=P+1}^{P+n-1} j = P² + (n - 1)(2P + n) / 2.
    per layer, once:         cross-attention K, V projections of the T' encoder tokens   2 · 2·T'·d²
    per layer, per position: self-attn q, k, v, out                                      4 · 2·d²
                             cross-attn q, out                                           2 · 2·d²
                             cross-attn QK^T, AV over T' keys                            2 · 2·T'·d
                             fc1, fc2                                                    2 · 2·d·F
    per layer, summed:       self-attn QK^T, AV over the cache                           2 · 2·K·d
    LM head (tied embedding) once per generated token: 2·d·V·n   (logits only where a token is
    chosen; the prompt's other positions need none). Token embedding lookups are not FLOPs.
"""
from __future__ import annotations

from speechbudget.architectures import WhisperDims
from speechbudget.geometry import stem_tokens


def conv_frames(frames: int) -> int:
    """Encoder tokens out of the conv stem (conv2: kernel 3, stride 2, padding 1)."""
    return stem_tokens(frames)


def encoder_flops(dims: WhisperDims, frames: int, stride: int, stride_layer: int,
                  out: dict[str, float], scale: float = 1, pool: str = "mean") -> int:
    """Add the encoder's components to `out` (times `scale`); return T', the tokens it outputs."""
    d, F, L = dims.d_model, dims.ffn_dim, dims.encoder_layers
    T = stem_tokens(frames)                   # conv stem output
    Ts = -(-T // stride)                      # after the token stride
    k = stride_layer                          # layers that run before the stride
    tok = k * T + (L - k) * Ts                # tokens summed over layers
    tok2 = k * T * T + (L - k) * Ts * Ts      # attention pairs summed over layers
    out["encoder.conv"] = scale * (2 * frames * dims.n_mels * d * 3 + 2 * T * d * d * 3)
    out["encoder.attn_proj"] = scale * 8 * d * d * tok
    out["encoder.attention"] = scale * 4 * d * tok2
    out["encoder.ffn"] = scale * 4 * d * F * tok
    if pool == "attn" and stride > 1:
        out["encoder.attn_select"] = scale * (4 * T * d * d + 2 * T * T * d)
    return Ts


def layer_flops(dims: WhisperDims, tokens: int) -> dict[str, float]:
    """One encoder layer on `tokens` tokens, by component (encoder_flops sums these over the
    layers, each on its own token count, plus the conv stem)."""
    d, F = dims.d_model, dims.ffn_dim
    return {"encoder.attn_proj": 8 * d * d * tokens, "encoder.attention": 4 * d * tokens * tokens,
            "encoder.ffn": 4 * d * F * tokens}


def subsample_adds(dims: WhisperDims, frames: int, stride: int, pool: str) -> float:
    """Element-wise adds of mean pooling (not counted in totals): one per input element."""
    if stride == 1 or pool != "mean":
        return 0.0
    return float(stem_tokens(frames) * dims.d_model)


def decoder_flops(dims: WhisperDims, enc_tokens: int, prompt: int, n: float, beam: int,
                  out: dict[str, float], scale: float = 1) -> None:
    """Add the decoder's components for one window: `prompt` tokens, `n` >= 1 generated tokens."""
    d, F, Ld, V = dims.d_model, dims.ffn_dim, dims.decoder_layers, dims.vocab_size
    P, Ts = prompt, enc_tokens
    N = P + n - 1                             # positions fed through the decoder
    K = P * P + (n - 1) * (2 * P + n) / 2     # self-attention keys summed over positions
    c = scale * beam * Ld
    out["decoder.cross_kv"] = c * 4 * d * d * Ts
    out["decoder.self_attn_proj"] = c * 8 * d * d * N
    out["decoder.self_attention"] = c * 4 * d * K
    out["decoder.cross_attn_proj"] = c * 4 * d * d * N
    out["decoder.cross_attention"] = c * 4 * d * Ts * N
    out["decoder.ffn"] = c * 4 * d * F * N
    out["decoder.lm_head"] = scale * beam * 2 * d * V * n
