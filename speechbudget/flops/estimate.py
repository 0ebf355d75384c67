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
from dataclasses import dataclass, field

from speechbudget.architectures import WhisperDims, get_architecture
from speechbudget.axes import Config, ConfigError
from speechbudget.flops import wav2vec2 as w2v
from speechbudget.flops import whisper as wh
from speechbudget.flops.lora_rank import check_config_rank
from speechbudget.flops.report import FlopsReport

from speechbudget.geometry import MEL_FRAMES_PER_S, SAMPLE_RATE

# Text tokens per second of speech: tiny.en BPE tokens of the bundled LibriSpeech transcripts
# (data/librispeech_sample, 40 utterances, 352.8 s), sentence-cased with a final period to look
# like Whisper's output (the upper-case originals give 4.7/s): 1071 tokens / 352.8 s = 3.04.
# The 220-utterance ../shared sample gives 3.17. Re-measured by tests/flops/test_tokens_rate.py.
TOKENS_PER_S = 3.04


def prompt_tokens_for(english_only: bool) -> int:
    return 2 if english_only else 4


def language_detection_flops(config: Config, frames: int, encoder: bool = False) -> float:
    """FLOPs of detecting the language on one window of `frames` mel frames
    (`tasks.asr.language`): one decoder step on <|startoftranscript|> alone (prompt 1, one LM-head
    row over the whole vocabulary: `whisper.decoder_flops` with P = n = 1, cross-attention K/V of
    the window's encoder tokens included), and with `encoder` the window's encoder pass too
    (when the transcription cannot reuse it)."""
    dims = get_architecture(config.model).dims
    out: dict[str, float] = {}
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ConfigError("frames", frames, "an integer >= 1")
    Ts = wh.encoder_flops(dims, frames, config.stride, config.stride_layer, out, 1, config.pool)
    if not encoder:
        out.clear()
    wh.decoder_flops(dims, Ts, 1, 1, 1, out)
    return float(sum(out.values()))


def _check_number(name: str, value, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < minimum:
        raise ConfigError(name, value, f"a finite number >= {minimum:g}")
    return value


def estimate(config: Config, decoded_tokens: float | None = None, audio_s: float | None = None,
             n_classes: int = 6, *, prompt_tokens: int | None = None,
             pooling: str = "mean", layer_weights: bool = True, head: str = "mlp",
             no_speech_head: bool = False) -> FlopsReport:
    """Inference FLOPs of `config` (see the module docstring for what is counted and how).
    ASR `no_speech_head`: the prompt pass also computes the LM head at the <|startoftranscript|>
    position (for the no-speech probability), one more row per window and beam.
    SER head options as `tasks.ser.heads.SerHead`: `pooling`, `layer_weights` (learned weighted
    sum of all hidden states, on by default as in tasks.ser.options.TrainOptions).
    Raises ConfigError("adaptation.rank") for a LoRA/DAMA rank above the adapted weights'
    dimensions (`flops.lora_rank.check_config_rank`), which training refuses too."""
    check_config_rank(config)
    arch = get_architecture(config.model)
    dims = arch.dims
    out: dict[str, float] = {}
    if config.task == "asr":
        if audio_s is not None:
            audio_s = _check_number("audio_s", audio_s, 0)
        window, chunks = config.windows_for(audio_s)
        span = window if audio_s is None else audio_s
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
        if no_speech_head:
            out["decoder.lm_head"] += chunks * config.beam_size * 2 * dims.d_model \
                * dims.vocab_size
        total = sum(out.values())
        ew = {"encoder.subsample_mean": chunks * wh.subsample_adds(dims, frames, config.stride,
                                                                    config.pool)} \
            if config.stride > 1 and config.pool == "mean" else {}
        # the tokens counted: at least one (end-of-text) per window, as `per` above
        return FlopsReport(total, out, Ts, max(n, chunks), P, span, "inference", "analytic", ew)
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
                   arch.encoder_layers + 1 if layer_weights or head == "linear" else 0, head)
    return FlopsReport(sum(out.values()), out, T, 0.0, 0, clip, "inference", "analytic")


def _min_samples(dims) -> int:
    n = 1
    for k, s in reversed(list(zip(dims.conv_kernel, dims.conv_stride))):
        n = (n - 1) * s + k
    return n


# ---- calibrated run-time prediction ----------------------------------------------------------
# Time is not FLOPs at a fixed efficiency: the encoder's large matmuls run near the matmul peak,
# the decoder is latency-bound (one small step per token, its cost set by the batch, not FLOPs).
# So an ASR configuration's seconds per item are predicted as
#     features_s_per_audio_s x audio seconds
#   + encoder FLOPs / (encoder_efficiency[model] x peak GFLOP/s)
#   + decoded tokens x decoder_s_per_token[model][batch]       (interpolated in the batch size)
# A step's cost also grows with the encoder tokens it attends to (the cross-attention reads all
# of them every step): where the calibration also timed a half-length encoder output
# (`decoder_s_per_token_half`, 15 s windows), the per-token cost is linear in the encoder tokens
# through the two measurements (FULL_ENCODER_TOKENS and half of it), floored at a quarter of the
# half-length cost; without it, the 30 s cost is used for every length.
# with the coefficients measured on this machine by benchmarks/calibrate_time.py (which also
# checks the prediction on utterances it did not calibrate on). `peak_gflops_per_s` is the
# matmul peak measured at calibration; pass the current one to `predict_seconds` to rescale the
# encoder term to a faster or busier moment (the decoder term is latency, it is not rescaled).


@dataclass(frozen=True)
class TimeModel:
    """Calibrated per-machine costs (see the comment above; benchmarks/calibrate_time.py)."""

    peak_gflops_per_s: float
    features_s_per_audio_s: float
    encoder_efficiency: dict[str, float]                 # model -> fraction of the peak
    decoder_s_per_token: dict[str, dict[int, float]]     # model -> batch -> seconds per token
    calibration: str = ""                                # how and where it was measured
    # the same at half the encoder tokens (15 s windows); empty in calibrations made before it
    decoder_s_per_token_half: dict[str, dict[int, float]] = field(default_factory=dict)
    # the precision the calibration ran at (sweep.timing.calibrate_time_model: the default,
    # fp32); bf16 or int8-dynamic run at other speeds, so they are not predicted from it
    precision: str = "fp32"

    @classmethod
    def from_dict(cls, d: dict) -> "TimeModel":
        try:
            return cls(float(d["peak_gflops_per_s"]), float(d["features_s_per_audio_s"]),
                       {str(k): float(v) for k, v in d["encoder_efficiency"].items()},
                       {str(m): {int(b): float(s) for b, s in per.items()}
                        for m, per in d["decoder_s_per_token"].items()},
                       str(d.get("calibration", "")),
                       {str(m): {int(b): float(s) for b, s in per.items()}
                        for m, per in d.get("decoder_s_per_token_half", {}).items()},
                       str(d.get("precision", "fp32")))
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError("time_model", sorted(d) if isinstance(d, dict) else d,
                              f"a calibration with peak_gflops_per_s, features_s_per_audio_s, "
                              f"encoder_efficiency and decoder_s_per_token ({e})") from None

    def to_dict(self) -> dict:
        return {"peak_gflops_per_s": self.peak_gflops_per_s,
                "features_s_per_audio_s": self.features_s_per_audio_s,
                "encoder_efficiency": dict(self.encoder_efficiency),
                "decoder_s_per_token": {m: {str(b): s for b, s in per.items()}
                                        for m, per in self.decoder_s_per_token.items()},
                "calibration": self.calibration,
                "decoder_s_per_token_half": {m: {str(b): s for b, s in per.items()}
                                             for m, per in self.decoder_s_per_token_half.items()},
                "precision": self.precision}

    def s_per_token(self, model: str, batch: int, encoder_tokens: int | None = None) -> float:
        """Decoder seconds per token at `batch`, linear between the calibrated batch sizes
        (the nearest one outside them); at `encoder_tokens`, linear through the full- and
        half-length calibrations where both exist (the comment above)."""
        per = self.decoder_s_per_token.get(model)
        if not per:
            raise ConfigError("model", model, f"a model calibrated for decoding "
                                              f"({', '.join(sorted(self.decoder_s_per_token))})")
        full = _in_batch(per, batch)
        half_per = self.decoder_s_per_token_half.get(model)
        if encoder_tokens is None or not half_per:
            return full
        half = _in_batch(half_per, batch)
        h = FULL_ENCODER_TOKENS / 2
        return max(half + (full - half) * (encoder_tokens - h) / h, 0.25 * half)


FULL_ENCODER_TOKENS = 1500  # a 30 s window's encoder output, the calibration's full length


def _in_batch(per: dict[int, float], batch: int) -> float:
    """A per-batch-size table read at `batch`: linear between sizes, the nearest outside."""
    bs = sorted(per)
    if batch <= bs[0]:
        return per[bs[0]]
    if batch >= bs[-1]:
        return per[bs[-1]]
    for lo, hi in zip(bs, bs[1:]):
        if lo <= batch <= hi:
            f = (batch - lo) / (hi - lo)
            return per[lo] + f * (per[hi] - per[lo])
    raise AssertionError("unreachable")


def predict_seconds(config: Config, time_model: TimeModel, audio_s: float, batch_size: int = 8,
                    decoded_tokens: float | None = None,
                    peak_gflops_per_s: float | None = None) -> dict[str, float]:
    """Predicted seconds for one ASR item of `audio_s` seconds: {"features", "encoder",
    "decoder", "total"} (see TimeModel). Greedy only: a beam of b costs about b x the decoder.
    A configuration at another precision than the calibration's is refused (ConfigError): bf16
    and int8-dynamic run at other speeds than fp32."""
    if config.task != "asr":
        raise ConfigError("task", config.task, "asr (time prediction covers ASR)")
    if config.precision != time_model.precision:
        raise ConfigError("precision", config.precision,
                          f"{time_model.precision}, the precision the time model was calibrated at")
    eff = time_model.encoder_efficiency.get(config.model)
    if eff is None:
        raise ConfigError("model", config.model, f"a model calibrated for the encoder "
                                                  f"({', '.join(sorted(time_model.encoder_efficiency))})")
    rep = estimate(config, decoded_tokens, audio_s)
    enc_flops = sum(v for k, v in rep.breakdown.items() if k.startswith("encoder."))
    peak = peak_gflops_per_s or time_model.peak_gflops_per_s
    out = {"features": time_model.features_s_per_audio_s * audio_s,
           "encoder": enc_flops / 1e9 / (eff * peak),
           "decoder": rep.decoded_tokens * config.beam_size
           * time_model.s_per_token(config.model, batch_size, rep.encoder_tokens)}
    out["total"] = sum(out.values())
    return out
