"""The Whisper encoder run our way: the surgery that realises xT (window) and xV (token stride).

Hugging Face's `WhisperEncoder.forward` insists on exactly 3000 mel frames. Here the encoder runs on
any even number of frames up to 3000 by slicing the positional table (xT), and keeps one token in
`stride` after encoder layer k or on the output (xV), so that every later layer, the decoder's
cross-attention K/V projection and each decoded token's cross-attention see fewer tokens.

    h = gelu(conv1(mel)); h = gelu(conv2(h))          # [B, T, d], T = ceil(frames / 2)
    h = h + pos[:T]                                    # window: slice, not pad
    for i, layer in enumerate(layers):
        if i == k: h = subsample_tokens(h, s, pool)    # stride after layer k (k = 0: before all)
        h = layer(h)
    (k == L: subsample here)  h = layer_norm(h)  (k == "output": subsample here)

With frames = 3000 and stride 1 this is exactly `WhisperEncoder.forward` (tested).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from speechbudget import geometry


def subsample_tokens(h: Tensor, stride: int, pool: str = "mean") -> Tensor:
    """Keep one token in `stride`: [B, T, d] -> [B, ceil(T / stride), d].

    "drop" keeps tokens 0, s, 2s, ...; "mean" averages each group of `stride` consecutive tokens
    (the last, possibly shorter group over the tokens it has).
    """
    if stride == 1:
        return h
    if pool == "drop":
        return h[:, ::stride]
    if pool != "mean":
        raise ValueError(f"pool={pool!r}: expected 'mean' or 'drop'")
    B, T, d = h.shape
    n = -(-T // stride)
    pad = n * stride - T
    if pad == 0:
        return h.reshape(B, n, stride, d).mean(dim=2)
    sums = F.pad(h, (0, 0, 0, pad)).reshape(B, n, stride, d).sum(dim=2)
    counts = torch.full((n, 1), float(stride), dtype=h.dtype, device=h.device)
    counts[-1] = stride - pad
    return sums / counts


def embed(encoder: nn.Module, mel: Tensor) -> Tensor:
    """Conv stem and positional embedding: mel [B, n_mels, frames] -> [B, T, d]."""
    frames = mel.shape[-1]
    max_frames = 2 * encoder.embed_positions.num_embeddings
    if frames > max_frames or frames < 2:
        raise ValueError(f"{frames} mel frames: the encoder takes 2..{max_frames} "
                         f"(a window of at most {max_frames / geometry.MEL_FRAMES_PER_S:g} s)")
    h = F.gelu(encoder.conv1(mel))
    h = F.gelu(encoder.conv2(h)).permute(0, 2, 1)
    return h + encoder.embed_positions.weight[: h.shape[1]]


def run_layers(encoder: nn.Module, h: Tensor, start: int, stop: int) -> Tensor:
    """Encoder layers start..stop-1 on hidden states h."""
    for layer in encoder.layers[start:stop]:
        out = layer(h, None)
        h = out[0] if isinstance(out, tuple) else out
    return h


def encode(encoder: nn.Module, mel: Tensor, stride: int = 1, stride_at: int | str = "output",
           pool: str = "mean", output_hidden_states: bool = False) -> tuple[Tensor, list[Tensor]]:
    """Run the encoder with a window of `mel.shape[-1]` frames and token stride `stride` applied
    after layer `stride_at` (0..L) or on the "output". Returns (last_hidden_state, hidden_states);
    hidden_states (if asked) holds the input to each layer and the normalised output, as HF does.
    """
    L = len(encoder.layers)
    k = L + 1 if stride_at == "output" else int(stride_at)
    if not 0 <= k <= L + 1:
        raise ValueError(f"stride_at={stride_at!r}: expected 0..{L} or 'output'")
    h = embed(encoder, mel)
    hidden: list[Tensor] = []
    for i, layer in enumerate(encoder.layers):
        if i == k:
            h = subsample_tokens(h, stride, pool)
        if output_hidden_states:
            hidden.append(h)
        h = run_layers(encoder, h, i, i + 1)
    if k == L:
        h = subsample_tokens(h, stride, pool)
    h = encoder.layer_norm(h)
    if k == L + 1:
        h = subsample_tokens(h, stride, pool)
    if output_hidden_states:
        hidden.append(h)
    return h, hidden


def encoder_tokens(frames: int, stride: int = 1) -> int:
    """Encoder tokens after the conv stem (stride 2) and a token stride: pure arithmetic."""
    return geometry.encoder_tokens(frames, stride)


def encode_layers(encoder: nn.Module, mel: Tensor, stride: int = 1, stride_at: int | str = "output",
                  pool: str = "mean") -> list[Tensor]:
    """Every layer's hidden states (as `encode(..., output_hidden_states=True)`), those before the
    stride subsampled the same way, so all have the final token count (for a weighted layer sum)."""
    _, hidden = encode(encoder, mel, stride, stride_at, pool, output_hidden_states=True)
    T = hidden[-1].shape[1]
    return [h if h.shape[1] == T else subsample_tokens(h, stride, pool) for h in hidden]
