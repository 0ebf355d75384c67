"""wav2vec2 / HuBERT / WavLM FLOPs as plain arithmetic, and the SER head's.

H = hidden size, F = ffn dim, L = layers. 1 multiply-add = 2 FLOPs.
    CNN feature encoder, 7 Conv1d (c_in -> 512, kernel k_i, stride s_i, no padding) on the raw
      waveform: length_i = (length_{i-1} - k_i) // s_i + 1;  2·length_i·c_in·512·k_i each
    feature projection  Linear(512, H) on T frames:         2·T·512·H
    positional conv     Conv1d(H, H, K=128, pad K//2, groups G=16):
                        2·(T + 2·(K//2) - K + 1)·H·(H/G)·K  (the extra output frame is cut after)
    layer on T frames:  q, k, v, out 4 · 2·T·H²;  QK^T, AV 2 · 2·T²·H;  FFN 2 · 2·T·H·F
    WavLM only:         gated relative position bias: Linear(H/heads, 8) on every head's query,
                        2·T·H·8 per layer; the bucket table is an embedding lookup (no FLOPs),
                        and adding the bias to the scores is element-wise.
Group/layer norms, GELU, the weight-norm reparametrisation of the positional conv: not counted.

SER head (speechbudget.tasks.ser.heads, CONTRACTS.md "Head"), on the T' encoder outputs:
    optional softmax-weighted sum of the N = L + 1 hidden states: tensordot (a matmul): 2·N·T'·H
    pooling "mean"             masked mean: element-wise (not counted); P = H
    pooling "attentive-stats"  Linear(H,128) -> tanh -> Linear(128,1) per frame: 2·T'·H·128 + 2·T'·128;
                               weighted mean and std: element-wise; P = 2H
    classifier                 Linear(P,256) -> ReLU -> Dropout -> Linear(256,C): 2·P·256 + 2·256·C
    head "linear"              Linear(N·H, C) on the concatenated per-layer means: 2·N·H·C
"""
from __future__ import annotations

from functools import lru_cache

from speechbudget.architectures import Wav2Vec2Dims

HEAD_HIDDEN = 256
ATTN_POOL_HIDDEN = 128
POOLINGS = ("mean", "attentive-stats")


@lru_cache(maxsize=4096)
def cnn(dims: Wav2Vec2Dims, samples: int) -> tuple[int, int]:
    """(frames out of the CNN feature encoder, its FLOPs) for `samples` waveform samples;
    frames <= 0 means the input is shorter than the CNN's receptive field."""
    length, c_in, flops = samples, 1, 0
    for c, k, s in zip(dims.conv_dim, dims.conv_kernel, dims.conv_stride):
        length = (length - k) // s + 1
        if length <= 0:
            return length, 0
        flops += 2 * length * c_in * c * k
        c_in = c
    return length, flops


def backbone_flops(dims: Wav2Vec2Dims, samples: int, wavlm: bool, out: dict[str, float]) -> int:
    """Add the backbone's components to `out`; return T, the frames it outputs."""
    T, conv = cnn(dims, samples)
    H, F, L, K = dims.hidden_size, dims.ffn_dim, dims.num_layers, dims.num_conv_pos_embeddings
    out["cnn"] = conv
    out["feature_projection"] = 2 * T * dims.conv_dim[-1] * H
    out["pos_conv"] = 2 * (T + 2 * (K // 2) - K + 1) * H * (H // dims.num_conv_pos_embedding_groups) * K
    out["encoder.attn_proj"] = L * 8 * T * H * H
    out["encoder.attention"] = L * 4 * T * T * H
    out["encoder.ffn"] = L * 4 * T * H * F
    if wavlm:
        out["encoder.rel_pos"] = L * 2 * T * H * 8
    return T


def head_flops(hidden: int, frames: int, n_classes: int, pooling: str,
               out: dict[str, float], n_states: int = 0, head: str = "mlp") -> None:
    """Add the SER head's components to `out` (`n_states` > 0: learned weighted sum of that
    many hidden states, a tensordot: 2·N·T·H). head "linear": Linear(N·H, C) on the N
    concatenated per-layer means: 2·N·H·C (pooling and concatenation are element-wise)."""
    if head == "linear":
        if n_states < 1:
            raise ValueError("head='linear' needs n_states (the number of hidden states)")
        out["head.classifier"] = 2 * n_states * hidden * n_classes
        return
    if n_states:
        out["head.layer_sum"] = 2 * n_states * frames * hidden
    P = hidden
    if pooling == "attentive-stats":
        out["head.pool"] = 2 * frames * hidden * ATTN_POOL_HIDDEN + 2 * frames * ATTN_POOL_HIDDEN
        P = 2 * hidden
    out["head.classifier"] = 2 * P * HEAD_HIDDEN + 2 * HEAD_HIDDEN * n_classes
