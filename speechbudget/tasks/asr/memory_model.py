"""Analytic memory of one ASR configuration: `memory_bytes(config, batch_size, audio_s)`.

Pure arithmetic on the architecture's dimensions and the pipeline's rules (no model is built),
for what `tasks.asr.pipeline.AsrPipeline` holds while it transcribes one shard of `batch_size`
utterances. Activation bytes are 4 (fp32, int8-dynamic: its activations stay fp32) or 2 (bf16,
fp16). The pipeline computes features for every row of a round (a row = one window-long chunk
of an utterance), then the encoder for all rows in batches of `batch_size`, keeping every row's
encoder output, then decodes in batches of `batch_size` rows. With the sequential long-form rule
(`longform="sequential"`, the default) a round holds one window per unfinished utterance, at its
seek; the next round starts after the last, and a window's features and encoder states are
dropped once it is decoded. With `longform="chunks"` every chunk of every utterance is one row of
a single round. So

  weights          parameters x bytes by precision: fp32 4, bf16/fp16 2; int8-dynamic: every
                   decoder nn.Linear weight 1 byte (+ its fp32 bias), the rest (the encoder
                   included) fp32, and the LM head (tied to the token embedding in fp32) becomes
                   a separate int8 copy
  features         log-mel of every row: rows x n_mels x frames x 4, plus the STFT transient of
                   one row (complex spectrum 8 B + power 4 B per bin: 201 x frames; features are
                   computed a row at a time), or of one block of the recording's peak pass
                   (`log_mel.log_mel_peak`: up to 3000 frames), whichever is larger
  encoder_states   every row's output: rows x T_s x d (T_s = ceil(T / stride), T = frames / 2)
  encoder_peak     one encoder batch of b rows at its largest moment: the convolutions
                   (2 x b x d x frames: conv1's output and its GELU), or a layer at T tokens
                   (T before the stride, T_s after; the largest layer counts): the MLP holds the
                   residual, the normed input, fc1's output and its GELU ((2 + 2 f / d) b T d);
                   attention holds residual, normed input, q, k, v, the output and its merged
                   copy (7 b T d) plus, with eager attention, the scores and probabilities per
                   head (2 b H T^2; SDPA's fused CPU/GPU kernels work in blocks and keep none)
  decoder          one decode batch of b rows, beam K: the padded stack of their encoder states
                   (b K T_s d with a beam: repeated per hypothesis), cross-attention K/V
                   (2 L_dec b K T_s d), the static self-attention KV cache
                   (2 L_dec b K S d, S = prompt + max new tokens + 1, max new tokens =
                   ceil(8 x chunk seconds) + 16 capped at 448 - prompt, as the pipeline), and the
                   logits (2 x b K x vocab x 4: scores and their filtered copy)
  peak             weights + features + encoder_states + max(encoder_peak, decoder)

Dynamic windows use the window each utterance gets (`Config.window_s_for`). Not modelled:
allocator slack and fragmentation, thread-local scratch of the matmul library, Python objects,
the token lists. benchmarks/memory_model.py compares it with the measured peak RSS increase.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from speechbudget.axes import Config, ConfigError
from speechbudget.geometry import (HOP_LENGTH, MEL_FRAMES_PER_S, N_FFT, SAMPLE_RATE,
                                   WINDOW_FRAMES)
from speechbudget.models.params import param_count
from speechbudget.tasks.asr.windows import max_new_tokens

N_FFT_BINS = 201                 # n_fft 400 -> 201 frequency bins
ATTENTIONS = ("sdpa", "eager")
MB = 2 ** 20


def activation_bytes(precision: str) -> int:
    return 2 if precision in ("bf16", "fp16") else 4


def weight_bytes(config: Config) -> int:
    """Bytes of the model's weights at the configuration's precision (see the module doc)."""
    arch = config.arch
    n = param_count(arch)
    if config.precision in ("bf16", "fp16"):
        return 2 * n
    if config.precision == "int8-dynamic":  # the decoder's linear layers (precision.int8_decoder)
        dims = arch.dims
        dec_w = dims.decoder_layers * (8 * dims.d_model ** 2 + 2 * dims.d_model * dims.ffn_dim)
        head = dims.vocab_size * dims.d_model
        return 4 * (n - dec_w) + dec_w + head
    return 4 * n


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes by part (module docstring); `peak` is the model's answer."""

    weights: int
    features: int
    encoder_states: int
    encoder_peak: int
    decoder: int
    rows: int                 # window-long chunks in flight
    tokens: int               # encoder tokens per row after the stride
    kv_cache: int             # part of `decoder`: the self-attention KV cache
    cross_kv: int             # part of `decoder`: cross-attention K/V

    @property
    def activations(self) -> int:
        """Everything but the weights at the peak."""
        return self.features + self.encoder_states + max(self.encoder_peak, self.decoder)

    @property
    def peak(self) -> int:
        return self.weights + self.activations

    def mb(self) -> dict[str, float]:
        return {k: v / MB for k, v in (
            ("weights", self.weights), ("features", self.features),
            ("encoder_states", self.encoder_states), ("encoder_peak", self.encoder_peak),
            ("decoder", self.decoder), ("kv_cache", self.kv_cache), ("cross_kv", self.cross_kv),
            ("activations", self.activations), ("peak", self.peak))}


def memory_bytes(config: Config, batch_size: int = 8,
                 audio_s: float | Sequence[float] | None = None,
                 attention: str = "sdpa") -> MemoryEstimate:
    """Bytes held while one shard of utterances is transcribed under `config`.

    `audio_s`: the utterances' lengths in seconds (one number: `batch_size` utterances of that
    length; default one full window each); `attention`: "sdpa" (the pipeline's) or "eager"."""
    if config.task != "asr":
        raise ConfigError("task", config.task, "asr (the memory model covers Whisper ASR)")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError("batch_size", batch_size, "an integer >= 1")
    if attention not in ATTENTIONS:
        raise ConfigError("attention", attention, f"one of {', '.join(ATTENTIONS)}")
    dims = config.arch.dims
    if audio_s is None:
        if config.is_dynamic:
            raise ConfigError("audio_s", None, "seconds of audio: needed for a dynamic window")
        lengths = [float(config.window)] * batch_size
    elif isinstance(audio_s, (int, float)) and not isinstance(audio_s, bool):
        lengths = [float(audio_s)] * batch_size
    elif isinstance(audio_s, (str, bytes)):   # "12" would be read as 1 s and 2 s
        raise ConfigError("audio_s", audio_s, "seconds as a number, or a list of numbers")
    else:
        lengths = [float(a) for a in audio_s]
    if not lengths or any(not math.isfinite(a) or a <= 0 for a in lengths):
        raise ConfigError("audio_s", audio_s, "utterance lengths > 0 seconds")
    act = activation_bytes(config.precision)
    d, L_dec, H, K = dims.d_model, dims.decoder_layers, dims.n_heads, config.beam_size
    prompt = 2 if config.arch.english_only else 4
    cap = dims.max_target_positions - prompt

    # the rows of the largest round, and the window (frames) each runs at
    rows: list[tuple[int, float]] = []       # (frames, chunk seconds)
    for a in lengths:
        window, n = config.windows_for(a)
        frames = int(round(window * MEL_FRAMES_PER_S))
        if config.longform == "sequential":   # one window of the utterance at a time
            rows.append((frames, min(a, window)))
        else:
            rows += [(frames, a / n)] * n
    frames_max = max(f for f, _ in rows)
    T = _ceil(frames_max, 2)
    Ts = _ceil(T, config.stride)
    b = min(batch_size, len(rows))

    peak_block = min(WINDOW_FRAMES, _ceil(int(max(lengths) * SAMPLE_RATE) + N_FFT // 2,
                                          HOP_LENGTH))
    features = sum(dims.n_mels * f * 4 for f, _ in rows) + \
        N_FFT_BINS * max(frames_max, peak_block) * 12
    encoder_states = sum(_ceil(_ceil(f, 2), config.stride) * d * act for f, _ in rows)
    conv = 2 * b * d * frames_max
    layer_T = [T] * config.stride_layer + [Ts] * (dims.encoder_layers - config.stride_layer)
    T_big = max(layer_T) if layer_T else Ts
    mlp = (2 + 2 * dims.ffn_dim / d) * b * T_big * d
    attn = 7 * b * T_big * d + (2 * b * H * T_big * T_big if attention == "eager" else 0)
    encoder_peak = int(max(conv, mlp, attn) * act)

    longest = sorted(rows, key=lambda r: -r[1])[:b]   # the first decode batch: the longest rows
    S = prompt + min(max_new_tokens(max(s for _, s in longest)), cap) + 1
    stacked = b * (K if K > 1 else 1) * Ts * d * act
    cross = 2 * L_dec * b * K * Ts * d * act
    kv = 2 * L_dec * b * K * S * d * act
    logits = 2 * b * K * dims.vocab_size * 4
    return MemoryEstimate(weight_bytes(config), int(features), int(encoder_states), encoder_peak,
                          int(stacked + cross + kv + logits), len(rows), Ts, int(kv), int(cross))


def _ceil(a: int, b: int) -> int:
    return -(-a // b)
