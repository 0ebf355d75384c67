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

pool "attn" (token selection by attention, training-free, after arXiv 2506.15912): instead of
pooling groups, keep the n = ceil(T / s) tokens that receive the most attention and drop the rest,
keeping their time order. The saliency of token j is the attention probability it receives at the
"saliency layer", summed over heads and queries:

    x = self_attn_layer_norm(h_in)            h_in: the input of the saliency layer
    P = softmax(q(x) k(x)^T / sqrt(d_head))   per head, [H, T, T] (rows: queries)
    saliency_j = sum over heads h, queries i of P[h, i, j]

The saliency layer is the last layer that ran before the stride (layer k - 1 for a stride after
layer k >= 1; layer L - 1 on the "output"; layer 0, on the embeddings, for k = 0). Its q and k
projections and QK^T are recomputed by `TokenSelector` (the layer itself runs fused attention that
does not expose P): 2 * 2*T*d^2 + 2*T^2*d FLOPs, listed apart in the FLOPs as
`encoder.attn_select`. Ties go to the earlier token (stable sort).

A caller whose rows hold padding after the audio (SER: a short clip in a longer window) passes
`audio_tokens`, each row's count of tokens from audio (after the conv stem, before the stride):
the ranking then puts every padding token after every audio token, so min(n, audio tokens) audio
tokens are kept (padding only when the audio has fewer than n). The saliency itself is unchanged
(every query, padding included, as the encoder's own attention runs without a mask), and so are
its FLOPs; without `audio_tokens` (ASR) the selection is the plain ranking above.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from speechbudget import geometry


POOLS = ("mean", "drop", "attn")


def kept_count(tokens: int, stride: int) -> int:
    return -(-tokens // stride)


class TokenSelector(nn.Module):
    """pool "attn": the attention each token receives at a layer (see the module docstring), and
    the indices of the ceil(T / stride) most attended tokens in time order. No parameters; it uses
    the layer's own (possibly LoRA-adapted) q/k projections."""

    def saliency(self, layer: nn.Module, h: Tensor) -> Tensor:
        """[B, T, d] -> [B, T]: attention probability received, summed over heads and queries."""
        att = layer.self_attn
        x = layer.self_attn_layer_norm(h)
        B, T, d = x.shape
        H = att.num_heads
        q = _project(att.q_proj, x).view(B, T, H, d // H).transpose(1, 2)
        k = _project(att.k_proj, x).view(B, T, H, d // H).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-1, -2)) * (d // H) ** -0.5
        return scores.float().softmax(dim=-1).sum(dim=(1, 2))

    def forward(self, layer: nn.Module, h: Tensor, stride: int,
                audio_tokens: Tensor | None = None) -> Tensor:
        """Indices [B, n] (sorted, time order) of the n = ceil(T / stride) kept tokens.
        `audio_tokens` [B]: tokens 0..audio_tokens-1 of a row are audio, the rest padding, which
        is ranked after all of them (module docstring)."""
        s = self.saliency(layer, h)
        n = kept_count(h.shape[1], stride)
        if audio_tokens is not None:
            pad = torch.arange(h.shape[1], device=s.device)[None, :] >= audio_tokens[:, None]
            s = s.masked_fill(pad, -torch.inf)
        order = torch.sort(s, dim=1, descending=True, stable=True).indices[:, :n]
        return torch.sort(order, dim=1).values


def _project(linear: nn.Module, x: Tensor) -> Tensor:
    if type(linear) is nn.Linear:  # plain: functional, so FLOPs are attributed to the selector
        return F.linear(x, linear.weight, linear.bias)
    return linear(x)               # wrapped (LoRA): the adapted projection


def gather_tokens(h: Tensor, idx: Tensor) -> Tensor:
    """h [B, T, d], idx [B, n] -> [B, n, d]."""
    return torch.gather(h, 1, idx.unsqueeze(-1).expand(-1, -1, h.shape[-1]))


def subsample_tokens(h: Tensor, stride: int, pool: str = "mean") -> Tensor:
    """Keep one token in `stride`: [B, T, d] -> [B, ceil(T / stride), d].

    "drop" keeps tokens 0, s, 2s, ...; "mean" averages each group of `stride` consecutive tokens
    (the last, possibly shorter group over the tokens it has).
    """
    if stride == 1:
        return h
    if pool == "drop":
        return h[:, ::stride]
    if pool == "attn":
        raise ValueError("pool='attn' selects tokens by attention: use encode() (it needs the "
                         "saliency layer), not subsample_tokens")
    if pool != "mean":
        raise ValueError(f"pool={pool!r}: expected 'mean', 'drop' or 'attn'")
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
           pool: str = "mean", output_hidden_states: bool = False,
           selector: nn.Module | None = None,
           audio_tokens: Sequence[int] | Tensor | None = None) -> tuple[Tensor, list[Tensor]]:
    """Run the encoder with a window of `mel.shape[-1]` frames and token stride `stride` applied
    after layer `stride_at` (0..L) or on the "output". Returns (last_hidden_state, hidden_states);
    hidden_states (if asked) holds the input to each layer and the normalised output, as HF does.
    `selector`: the TokenSelector for pool "attn" (a fresh one by default). `audio_tokens`: per
    row, the tokens (before the stride) that come from audio, the rest being padding: pool "attn"
    then never keeps a padding token in place of an audio one (module docstring); other pools
    ignore it."""
    h, hidden, _ = encode_with_indices(encoder, mel, stride, stride_at, pool,
                                       output_hidden_states, selector, audio_tokens=audio_tokens)
    return h, hidden


def saliency_layer(n_layers: int, k: int) -> int:
    """The layer whose attention chooses the tokens for a stride before layer k (k = L + 1: the
    output): the last layer run before the stride, or layer 0 for k = 0."""
    return n_layers - 1 if k > n_layers else max(k - 1, 0)


def encode_with_indices(encoder: nn.Module, mel: Tensor, stride: int = 1,
                        stride_at: int | str = "output", pool: str = "mean",
                        output_hidden_states: bool = False, selector: nn.Module | None = None,
                        stop: int | None = None,
                        audio_tokens: Sequence[int] | Tensor | None = None
                        ) -> tuple[Tensor, list[Tensor], Tensor | None]:
    """As `encode`, also returning the kept token indices [B, n] for pool "attn" (else None).
    `stop` (1..L-1, at or above a stride's layer): return layer `stop`'s input instead, without
    running layers stop..L-1 (a frozen prefix; `encode_layers_from` runs the rest)."""
    L = len(encoder.layers)
    k = L + 1 if stride_at == "output" else int(stride_at)
    if not 0 <= k <= L + 1:
        raise ValueError(f"stride_at={stride_at!r}: expected 0..{L} or 'output'")
    if stop is not None and not (1 <= stop < L and (stride == 1 or k <= stop)):
        raise ValueError(f"stop={stop}: expected 1..{L - 1}, at or above the stride's layer")
    if pool not in POOLS:
        raise ValueError(f"pool={pool!r}: expected one of {', '.join(POOLS)}")
    attn = pool == "attn" and stride > 1
    j = saliency_layer(L, k)
    selector = selector if selector is not None or not attn else TokenSelector()
    h = embed(encoder, mel)
    audio = None
    if attn and audio_tokens is not None:
        audio = torch.as_tensor(audio_tokens, device=h.device).reshape(-1)
        if audio.shape[0] != h.shape[0]:
            raise ValueError(f"audio_tokens: {audio.shape[0]} counts for a batch of {h.shape[0]}")
    hidden: list[Tensor] = []
    idx: Tensor | None = None
    sal_in = h

    def reduce(x: Tensor) -> Tensor:
        nonlocal idx
        if not attn:
            return subsample_tokens(x, stride, pool)
        idx = (selector(encoder.layers[j], sal_in, stride) if audio is None
               else selector(encoder.layers[j], sal_in, stride, audio))
        return gather_tokens(x, idx)

    for i, layer in enumerate(encoder.layers):
        if i == j:
            sal_in = h
        if i == k:
            h = reduce(h)
        if output_hidden_states:
            hidden.append(h)
        if i == stop:
            return h, hidden, idx
        h = run_layers(encoder, h, i, i + 1)
    if k == L:
        h = reduce(h)
    h = encoder.layer_norm(h)
    if k == L + 1:
        h = reduce(h)
    if output_hidden_states:
        hidden.append(h)
    return h, hidden, idx


def encoder_tokens(frames: int, stride: int = 1) -> int:
    """Encoder tokens after the conv stem (stride 2) and a token stride: pure arithmetic."""
    return geometry.encoder_tokens(frames, stride)


def encode_layers(encoder: nn.Module, mel: Tensor, stride: int = 1, stride_at: int | str = "output",
                  pool: str = "mean", selector: nn.Module | None = None,
                  stop: int | None = None,
                  audio_tokens: Sequence[int] | Tensor | None = None) -> list[Tensor]:
    """Every layer's hidden states (as `encode(..., output_hidden_states=True)`), those before the
    stride subsampled the same way, so all have the final token count (for a weighted layer sum).
    `stop`: states 0..stop only (see `encode_with_indices`); `audio_tokens`: see `encode`."""
    _, hidden, idx = encode_with_indices(encoder, mel, stride, stride_at, pool,
                                         output_hidden_states=True, selector=selector, stop=stop,
                                         audio_tokens=audio_tokens)
    T = hidden[-1].shape[1]
    if idx is not None:  # attn: the same tokens as the stride kept
        return [h if h.shape[1] == T else gather_tokens(h, idx) for h in hidden]
    return [h if h.shape[1] == T else subsample_tokens(h, stride, pool) for h in hidden]


def encode_layers_from(encoder: nn.Module, h: Tensor, start: int) -> list[Tensor]:
    """The hidden states after `start`: `encode_layers(...)[start + 1:]` computed from
    `h = encode_layers(...)[start]`, the input of layer `start` (1 <= start < L; a token stride
    must already have been applied at or below `start`, i.e. stride_at <= start):

        for layer in layers[start:]: h = layer(h); keep h     (the last one: layer_norm(h))

    What a training backbone whose layers below `start` are frozen runs on a cached prefix."""
    L = len(encoder.layers)
    if not 1 <= start < L:
        raise ValueError(f"start={start}: expected 1..{L - 1}")
    out: list[Tensor] = []
    for i in range(start, L):
        h = run_layers(encoder, h, i, i + 1)
        out.append(encoder.layer_norm(h) if i == L - 1 else h)
    return out
