"""Analytic inference FLOPs of one configuration: `estimate(config, ...)` -> FlopsReport.

Pure arithmetic on the architecture's dimensions (whisper.py, wav2vec2.py): no torch, no model.

ASR (Whisper): encoder + decoder for each window of audio. The number of generated tokens n is an
input (count the end-of-text token); the decoder prompt (tiny.en & other .en: 2 tokens
<|startoftranscript|><|notimestamps|>; multilingual: 4, adding <|en|><|transcribe|>) is counted as
fed in one pass. Without n, it is estimated as TOKENS_PER_S x seconds of audio + 1 per window.
Audio longer than the window is cut into ceil(audio / window) windows, each costing one encoder
pass and a decoder pass with its share n / windows of the tokens.
SER: backbone (Whisper encoder or wav2vec2-family) + head for one clip of `config.window` seconds.
"""
from __future__ import annotations

import math

from speechbudget.architectures import WhisperDims, get_architecture
from speechbudget.axes import Config, ConfigError
from speechbudget.flops import wav2vec2 as w2v
from speechbudget.flops import whisper as wh
from speechbudget.flops.report import FlopsReport

SAMPLE_RATE = 16000
MEL_FRAMES_PER_S = 100
# Text tokens per second of speech: tiny.en BPE tokens of the bundled LibriSpeech transcripts
# (data/librispeech_sample, 40 utterances, 352.8 s), sentence-cased with a final period to look
# like Whisper's output (the upper-case originals give 4.7/s): 1071 tokens / 352.8 s = 3.04.
# The 220-utterance ../shared sample gives 3.17. Re-measured by tests/flops/test_tokens_rate.py.
TOKENS_PER_S = 3.04


def prompt_tokens_for(english_only: bool) -> int:
    return 2 if english_only else 4


def _check_number(name: str, value, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < minimum:
        raise ConfigError(name, value, f"a finite number >= {minimum:g}")
    return value


def estimate(config: Config, decoded_tokens: float | None = None, audio_s: float | None = None,
             n_classes: int = 6, *, prompt_tokens: int | None = None,
             pooling: str = "mean", layer_weights: bool = True) -> FlopsReport:
    """Inference FLOPs of `config` (see the module docstring for what is counted and how).
    SER head options as `tasks.ser.heads.SerHead`: `pooling`, `layer_weights` (learned weighted
    sum of all hidden states, on by default as in tasks.ser.train.TrainOptions)."""
    arch = get_architecture(config.model)
    dims = arch.dims
    out: dict[str, float] = {}
    if config.task == "asr":
        if config.window == "dynamic":
            if audio_s is None:
                raise ConfigError("audio_s", None, "seconds of audio: needed for a dynamic window")
            window = config.window_s_for(_check_number("audio_s", audio_s, 0))
        else:
            window = config.window
        span = window
        if audio_s is not None:
            span = _check_number("audio_s", audio_s, 0)
        chunks = max(1, math.ceil(span / window - 1e-9))
        if decoded_tokens is None:
            n = TOKENS_PER_S * span + chunks
        else:
            n = _check_number("decoded_tokens", decoded_tokens, 0)
        P = prompt_tokens_for(arch.english_only) if prompt_tokens is None else prompt_tokens
        if isinstance(P, bool) or not isinstance(P, int) or P < 1:
            raise ConfigError("prompt_tokens", P, "an integer >= 1")
        frames = round(window * MEL_FRAMES_PER_S)
        Ts = wh.encoder_flops(dims, frames, config.stride, config.stride_layer, out, chunks,
                              config.pool)
        per = max(n / chunks, 1)   # at least the end-of-text token is generated in each window
        wh.decoder_flops(dims, Ts, P, per, config.beam_size, out, chunks)
        total = sum(out.values())
        ew = {"encoder.subsample_mean": chunks * wh.subsample_adds(dims, frames, config.stride,
                                                                    config.pool)} \
            if config.stride > 1 and config.pool == "mean" else {}
        return FlopsReport(total, out, Ts, n, P, span, "inference", "analytic", ew)
    # SER
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise ConfigError("n_classes", n_classes, "an integer >= 1")
    if pooling not in w2v.POOLINGS:
        raise ConfigError("pooling", pooling, f"one of {', '.join(w2v.POOLINGS)}")
    clip = config.window
    if isinstance(dims, WhisperDims):
        frames = round(clip * MEL_FRAMES_PER_S)   # as tasks.ser.backbone: the clip, no padding
        T = wh.encoder_flops(dims, frames, config.stride, config.stride_layer, out,
                             pool=config.pool)
    else:
        samples = round(clip * SAMPLE_RATE)
        T = w2v.backbone_flops(dims, samples, arch.family == "wavlm", out)
        if T <= 0:
            raise ConfigError("window", clip, f"a clip of at least "
                                              f"{_min_samples(dims) / SAMPLE_RATE:g} s for the "
                                              f"CNN feature encoder of {arch.name}")
    w2v.head_flops(arch.hidden_size, T, n_classes, pooling, out,
                   arch.encoder_layers + 1 if layer_weights else 0)
    return FlopsReport(sum(out.values()), out, T, 0.0, 0, clip, "inference", "analytic")


def _min_samples(dims) -> int:
    n = 1
    for k, s in reversed(list(zip(dims.conv_kernel, dims.conv_stride))):
        n = (n - 1) * s + k
    return n
