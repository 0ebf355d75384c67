"""Transcribe recordings of any length with a loaded Whisper bundle: segments with times, and the
`TranscriptionInfo` of each recording. The public, model-owning API is
`speechbudget.WhisperModel` (speechbudget/whisper_model.py); this module is what it runs.

    from speechbudget.models.loading import load_whisper
    bundle = load_whisper("tiny.en")
    cfg = Config(task="asr", model="tiny.en", window=10, timestamps="on")
    [(segments, info)] = transcribe_bundle(bundle, cfg, [as_audio("talk.flac")], "cpu")

Any configuration of the study runs (window 0.04..30 s or "dynamic", token stride, beam,
precision); audio longer than the window goes through Whisper's sequential long-form rule
(`longform` "sequential", or the old "chunks" for comparison); silence gives no segment.
Writers for txt / srt / vtt / tsv / json are in `tasks.asr.subtitles`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from speechbudget.audio import AudioError
from speechbudget.axes import Config, ConfigError
from speechbudget.geometry import SAMPLE_RATE
from speechbudget.tasks.asr.language import Detection
from speechbudget.tasks.asr.options import LOGPROB_THRESHOLD, NO_SPEECH_THRESHOLD
from speechbudget.tasks.asr.pipeline import AsrPipeline
from speechbudget.tasks.asr.precision import cast_for_precision
from speechbudget.tasks.asr.transcript import Segment, Transcript
from speechbudget.tasks.asr.vad import SileroVad, split_speech
from speechbudget.tasks.asr.vad_rules import VadOptions, VadResult

__all__ = ["Segment", "TranscriptionInfo", "as_audio", "registry_name", "transcribe",
           "transcribe_bundle", "transcribe_many", "LOGPROB_THRESHOLD", "NO_SPEECH_THRESHOLD"]


@dataclass(frozen=True)
class TranscriptionInfo:
    """What one recording's transcription did and cost."""

    duration: float            # seconds of audio
    language: str | None       # the language decoded (its code: given, detected, or "en" for an
    #                            English-only model; None: a model without language tokens)
    windows: int               # windows decoded (digital silence is skipped, not decoded)
    no_speech_windows: int     # windows without speech (decoded, or digital silence)
    silent_windows: int        # digital silence: not decoded
    decoded_tokens: int        # tokens the decoder computed, end-of-text included
    gflops: float              # analytic FLOPs of everything decoded (flops.estimate), in GFLOPs
    stopped_by_limit: int      # windows whose decoding hit the token limit
    repetition_cut: int        # windows whose decoding was cut in a repetition loop
    config: Config             # the configuration that ran
    text: str                  # the segments' texts joined with spaces
    vad: VadResult | None = None  # what the voice-activity filter kept (None: not asked for);
    #                               windows, tokens and gflops are those of the kept audio only
    # P(language) when detected on the first window (1.0 when given or English-only, None with
    # `language` None), and every language's, most probable first (detected only), as
    # faster-whisper's; `gflops` includes the detection's
    language_probability: float | None = None
    all_language_probs: list[tuple[str, float]] | None = None
    task: str = "transcribe"   # "transcribe", or "translate" (to English)

    @property
    def duration_after_vad(self) -> float:
        """Seconds decoded after the voice-activity filter (faster-whisper's field): the
        duration when the filter did not run."""
        return self.duration if self.vad is None else self.vad.duration_after_vad

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (the configuration as `Config.to_dict`); "vad" only when the
        filter ran, "all_language_probs" (pairs [code, probability]) only when the language was
        detected."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["config"] = self.config.to_dict()
        if self.all_language_probs is None:
            del d["all_language_probs"]
        else:
            d["all_language_probs"] = [[c, p] for c, p in self.all_language_probs]
        if self.vad is None:
            del d["vad"]
        else:
            d["vad"] = self.vad.to_dict()
        return d


def as_audio(audio: str | Path | np.ndarray) -> np.ndarray:
    """A 1-D float32 16 kHz waveform from a path (any format soundfile reads, resampled) or an
    array (float samples in [-1, 1] at 16 kHz: numpy, a list, or a torch tensor, detached and
    copied to the CPU); AudioError naming what is wrong (bytes and file objects are refused).
    An empty recording (0 samples) is accepted: it has no window and so no segments, as in
    openai-whisper and faster-whisper."""
    if isinstance(audio, (str, os.PathLike)):
        from speechbudget.audio import load_audio
        return load_audio(audio)
    if isinstance(audio, (bytes, bytearray)) or hasattr(audio, "read"):
        raise AudioError(f"audio of type {type(audio).__name__}: encoded bytes or a file object "
                         "are not read; pass a path, or a 1-D float array at "
                         f"{SAMPLE_RATE} Hz (e.g. soundfile.read(io.BytesIO(data)), resampled)")
    import torch
    if isinstance(audio, torch.Tensor):  # requires_grad, a GPU tensor, bf16: numpy takes none
        audio = audio.detach().cpu()
        audio = audio.float() if audio.is_floating_point() else audio
    a = np.asarray(audio)
    if a.dtype.kind in "OUS":  # None, a str inside a list, ...: not samples at all
        raise AudioError(f"audio of type {type(audio).__name__}: expected a path (str or "
                         f"pathlib.Path) or a 1-D float array at {SAMPLE_RATE} Hz")
    if a.dtype.kind != "f":
        hint = ""
        if a.dtype.kind in "iu":  # integer PCM: the scale depends on the width
            hint = (" (8-bit PCM: subtract 128, divide by 128)" if a.dtype == np.uint8 else
                    f" ({a.dtype} PCM: divide by {2 ** (8 * a.dtype.itemsize - 1)})")
        raise AudioError(f"audio array of dtype {a.dtype}: expected float samples in [-1, 1] at "
                         f"{SAMPLE_RATE} Hz{hint}")
    if a.ndim != 1:
        raise AudioError(f"audio array of shape {a.shape}: expected a 1-D {SAMPLE_RATE} Hz mono "
                         "waveform or a path")
    if not np.all(np.isfinite(a)):
        raise AudioError("audio array holds non-finite samples (NaN or inf)")
    return np.ascontiguousarray(a, dtype=np.float32)


def transcribe_bundle(bundle: Any, config: Config, audios: Sequence[np.ndarray], device: str,
                      model: Any = None, batch_size: int = 8,
                      no_speech_threshold: float | None = NO_SPEECH_THRESHOLD,
                      logprob_threshold: float | None = LOGPROB_THRESHOLD,
                      vad: SileroVad | None = None, vad_options: VadOptions | None = None,
                      language: str | None = None, task: str = "transcribe",
                      language_detection_segments: int = 1,
                      language_detection_threshold: float = 0.5,
                      **decoding: Any) -> list[tuple[list[Segment], TranscriptionInfo]]:
    """(segments, info) per waveform (`as_audio`'s output), batched, each with its own seek.
    `model`: the bundle's model cast for `config.precision` (default: `bundle.model` as is).
    `decoding`: AsrPipeline's keyword options (condition_on_previous_text, temperatures,
    compression_ratio_threshold, best_of, seed, word timestamps, and faster-whisper's prompt
    options initial_prompt, prefix and hotwords: text or None). `vad`: a loaded Silero VAD to
    decode only the speech it finds with `vad_options` (faster-whisper's `vad_filter`): the
    chunks joined are decoded and the times mapped back to each recording (`tasks.asr.vad`);
    not with `clip_timestamps` (`decoding`: then the filter does not run, with a warning, as
    faster-whisper ignores vad_filter when clips are given). `language`: a code of the model's,
    or None: "en" for an English-only model, else detected per recording on its first window
    (of the speech kept, with `vad`) and each recording decoded in its language
    (`language.detect_languages`: up to `language_detection_segments` windows while the top
    language is not more probable than `language_detection_threshold`, as faster-whisper);
    `task`: "transcribe" or "translate" (to English)."""
    from speechbudget.tasks.asr.language import (FirstWindows, detect_languages, is_multilingual,
                                                 reusable)
    pipe = AsrPipeline(bundle, config, device, model=model, language=language, task=task,
                       **decoding)
    if vad is not None and pipe.clip_timestamps is not None:
        warn_vad_ignored()
        vad = None
    pipe.no_speech_threshold, pipe.logprob_threshold = no_speech_threshold, logprob_threshold
    splits = [split_speech(vad, a, vad_options) if vad is not None else None for a in audios]
    items = [(f"{i}", a if sp is None else sp.speech)
             for i, (a, sp) in enumerate(zip(audios, splits))]
    detected, cache = {}, None
    if language is None and is_multilingual(bundle):
        from speechbudget.tasks.asr.language import bundle_codes
        cache = FirstWindows() if reusable(config) else None
        detected = detect_languages(pipe, items, bundle_codes(bundle), batch_size, cache,
                                    language_detection_segments, language_detection_threshold)
    pipes = {language or "en": pipe}   # None decodes the bundle's prompt: <|en|>
    out: dict[str, Transcript] = {}
    groups: dict[str | None, list] = {}
    for i, a in items:
        groups.setdefault(detected[i].language if i in detected else language or "en",
                          []).append((i, a))
    for lang, group in groups.items():
        if lang not in pipes:
            pipes[lang] = AsrPipeline(bundle, config, device, model=model, language=lang,
                                      task=task, **decoding)
            pipes[lang].no_speech_threshold = no_speech_threshold
            pipes[lang].logprob_threshold = logprob_threshold
        out.update(pipes[lang].transcribe_items(group, batch_size, cache))
    given = decoded_language(bundle) if language is None else language
    results = []
    for (i, _), a, sp in zip(items, audios, splits):
        lang = detected[i] if i in detected else given
        info = _info(config, out[i], len(a) / SAMPLE_RATE, pipe, lang, task,
                     cache is not None and cache.used(i))
        if sp is None:
            results.append((out[i].segments, info))
        else:
            results.append((sp.restore(out[i].segments), replace(info, vad=sp.result)))
    return results


def transcribe_many(audios: Sequence[str | Path | np.ndarray], model: str = "tiny.en", *,
                    window: float | str = 30, stride: int = 1, stride_at: int | str = "output",
                    pool: str = "mean", beam_size: int = 1, precision: str = "fp32",
                    timestamps: str = "on", longform: str = "sequential",
                    device: str | None = None, batch_size: int = 8,
                    no_speech_threshold: float | None = NO_SPEECH_THRESHOLD,
                    logprob_threshold: float | None = LOGPROB_THRESHOLD,
                    bundle: Any = None, initial_prompt: str | None = None,
                    prefix: str | None = None, hotwords: str | None = None,
                    vad_filter: bool = False,
                    vad_parameters: dict[str, Any] | VadOptions | None = None,
                    clip_timestamps: str | Sequence[float] | None = None,
                    hallucination_silence_threshold: float | None = None,
                    word_timestamps: bool = False, language: str | None = None,
                    task: str = "transcribe", language_detection_segments: int = 1,
                    language_detection_threshold: float = 0.5
                    ) -> list[tuple[list[Segment], TranscriptionInfo]]:
    """One-shot function: loads `model` (unless a loaded `bundle` is given) for this call only;
    keep a `speechbudget.WhisperModel` to transcribe repeatedly with one loaded model.
    initial_prompt / prefix / hotwords, vad_filter / vad_parameters, clip_timestamps,
    hallucination_silence_threshold, word_timestamps, language, task,
    language_detection_segments, language_detection_threshold: faster-whisper's options, as
    `WhisperModel.transcribe`."""
    from speechbudget.tasks.asr.options import (check_clip_timestamps,
                                                check_hallucination_silence_threshold,
                                                check_prompt_text)
    prompts = {name: check_prompt_text(name, v) for name, v in (
        ("initial_prompt", initial_prompt), ("prefix", prefix), ("hotwords", hotwords))}
    clips = check_clip_timestamps(clip_timestamps)
    prompts.update(clip_timestamps=clips, hallucination_silence_threshold=(
        check_hallucination_silence_threshold(hallucination_silence_threshold)),
        word_timestamps=bool(word_timestamps))
    if not isinstance(vad_filter, (bool, np.bool_)):
        raise ConfigError("vad_filter", vad_filter, "True or False")
    vad_options = VadOptions.of(vad_parameters)
    if vad_filter and clips is not None:
        warn_vad_ignored()
        vad_filter = False
    vad = SileroVad() if vad_filter else None
    from speechbudget.machine import check_device, default_device
    device = check_device(device or default_device())
    if bundle is None:
        from speechbudget.models.loading import load_whisper
        bundle = load_whisper(str(model), device=device)
    cfg = Config(task="asr", model=registry_name(bundle.arch), window=window, stride=stride,
                 stride_at=stride_at, pool=pool, precision=precision, beam_size=beam_size,
                 timestamps=timestamps, longform=longform)
    from speechbudget.tasks.asr.language import (bundle_codes, check_detection_options,
                                                 check_language, check_task, is_multilingual)
    check_task(task, not is_multilingual(bundle), cfg.model)
    segments, threshold = check_detection_options(language_detection_segments,
                                                  language_detection_threshold)
    check_language(language, bundle_codes(bundle), cfg.model)
    waves = [as_audio(a) for a in audios]
    return transcribe_bundle(bundle, cfg, waves, device,
                             cast_for_precision(bundle.model, precision, device), batch_size,
                             no_speech_threshold, logprob_threshold, vad=vad,
                             vad_options=vad_options, language=language, task=task,
                             language_detection_segments=segments,
                             language_detection_threshold=threshold, **prompts)


def warn_vad_ignored() -> None:
    """The warning when both vad_filter and clip_timestamps are given (the clips win)."""
    import warnings
    warnings.warn("vad_filter is ignored when clip_timestamps is given (as faster-whisper): "
                  "only the clips are decoded", stacklevel=3)


def transcribe(audio: str | Path | np.ndarray, model: str = "tiny.en", **kw: Any
               ) -> tuple[list[Segment], TranscriptionInfo]:
    """(segments, info) of one recording (options as `transcribe_many`)."""
    return transcribe_many([audio], model, **kw)[0]


def registry_name(arch: Any) -> str:
    """The registry name a loaded model's Config carries (the FLOPs are computed from it): its
    own, or for a local folder (named by the folder) the registry architecture with the same
    dimensions, as a sweep's `model_path` runs under its registry `model`. A folder named like a
    registry architecture ('large-v3') is that one only if its dimensions are (distil-large-v3's
    weights there are distil-large-v3); of several with its dimensions, the one it is named for."""
    from speechbudget.architectures import ARCHITECTURES
    named = ARCHITECTURES.get(arch.name)
    if named is not None and named.dims == arch.dims:
        return arch.name
    same = [n for n, a in ARCHITECTURES.items() if a.is_whisper and a.dims == arch.dims]
    if not same:
        known = ", ".join(n for n, a in ARCHITECTURES.items() if a.is_whisper)
        raise ConfigError("model", arch.name, f"a Whisper with the dimensions of a known "
                                              f"architecture ({known}); it has {arch.dims}")
    return same[0]


def decoded_language(bundle: Any) -> str | None:
    """"en" when the model is English-only or its decoder prompt names English (<|en|>, as
    `models.loading` builds it for multilingual models); None when unknown."""
    from speechbudget.models.registry import whisper_tokens
    arch = getattr(bundle, "arch", None)
    if arch is not None and arch.english_only:
        return "en"
    try:
        tok = whisper_tokens(int(bundle.model.config.vocab_size))
    except ValueError:  # not a Whisper vocabulary (a test model): no language token to read
        return None
    return "en" if tok.english in bundle.prompt_ids else None


def _info(cfg: Config, tr: Transcript, duration_s: float, pipe: AsrPipeline,
          language: str | Detection | None, task: str = "transcribe",
          reused: bool = False) -> TranscriptionInfo:
    """The recording's info; `language` a `Detection` when detected (its decoder steps, and
    its encoder passes but the first window's when the transcription `reused` it, counted in
    gflops: `Detection.gflops`)."""
    from speechbudget.tasks.asr.windows import window_gflops
    tokens = [r.decode_steps for r in tr.windows]  # every attempt's tokens, eos included
    gflops = sum(window_gflops(cfg, r, pipe.decoder_for(r.timestamps).no_speech_extra)
                 for r in tr.windows)  # every fallback attempt and hypothesis counted
    probability, every = (None if language is None else 1.0), None
    if isinstance(language, Detection):
        gflops += language.gflops(cfg, reused)
        probability, every = language.probability, list(language.all_probs)
        language = language.language
    return TranscriptionInfo(
        duration=duration_s, language=language, language_probability=probability,
        all_language_probs=every, task=task, windows=len(tr.windows),
        no_speech_windows=tr.no_speech_windows, silent_windows=tr.silent_windows,
        decoded_tokens=sum(tokens), gflops=gflops,
        stopped_by_limit=sum(r.by_limit for r in tr.windows),
        repetition_cut=sum(r.by_loop for r in tr.windows), config=cfg, text=tr.text)
