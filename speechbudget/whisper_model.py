"""`WhisperModel`: the public transcription API, in the shape faster-whisper users know.

    from speechbudget import WhisperModel
    model = WhisperModel("tiny.en", window=10, stride=2)        # loads the weights once
    segments, info = model.transcribe("talk.flac")              # a path or a 16 kHz float array
    for s in segments:
        print(f"[{s.start:.2f} -> {s.end:.2f}] {s.text}")
    info.duration, info.windows, info.decoded_tokens, info.gflops, info.config
    segments, _ = model.transcribe("talk.flac", word_timestamps=True)
    segments[0].words                                           # [Word(start, end, word, probability)]
    segments, info = model.transcribe("talk.flac", vad_filter=True)  # speech only (silero-vad)
    base = WhisperModel("base")                                 # a multilingual model
    segments, info = base.transcribe("talk.flac")               # its language detected:
    info.language, info.language_probability                    # e.g. ("de", 0.98)
    base.transcribe("talk.flac", language="de", task="translate")  # German speech, English text
    results = model.transcribe_batch(["a.wav", "b.wav"])       # [(segments, info)], batched

`device`: "cpu", "cuda", "cuda:N", or None / "auto" (cuda if present, as faster-whisper's "auto").
The object owns the loaded model (a registry name such as "tiny.en" or "base" — the bundled
offline weights when installed —, a hub id, or a local Hugging Face / CTranslate2 folder) and the
encoder axes of the study (`window`, `stride`, `stride_at`, `pool`, `precision`) and the features' padding (`mel_padding`); each call chooses
the decoding (`language`, `task`, `beam_size`, `timestamps`, `longform`, the no-speech
thresholds, faster-whisper's
`initial_prompt` / `prefix` / `hotwords`, `vad_filter`, `clip_timestamps`,
`hallucination_silence_threshold`). Invalid options
raise `axes.ConfigError` naming the field. Nothing is printed; loading shows no progress bar.
Importing this module imports torch: `import speechbudget` itself does not (it exports
`WhisperModel` lazily).
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from speechbudget.axes import Config, ConfigError
from speechbudget.tasks.asr.options import (COMPRESSION_RATIO_THRESHOLD,
                                            check_clip_timestamps, check_fallback,
                                            check_hallucination_silence_threshold,
                                            check_mel_padding, check_prompt_text)
from speechbudget.tasks.asr.transcribe import (LOGPROB_THRESHOLD, NO_SPEECH_THRESHOLD, Segment,
                                               TranscriptionInfo, as_audio, registry_name,
                                               transcribe_bundle, warn_vad_ignored)
from speechbudget.tasks.asr.vad import SileroVad, check_vad_model, vad_model_path
from speechbudget.tasks.asr.vad_rules import VadOptions
from speechbudget.tasks.asr.word_timing import APPEND_PUNCTUATIONS, PREPEND_PUNCTUATIONS, Word

__all__ = ["WhisperModel", "Segment", "TranscriptionInfo", "VadOptions", "Word"]


class WhisperModel:
    """A loaded Whisper model with fixed encoder axes; `transcribe` / `transcribe_batch`."""

    def __init__(self, model: str | Path = "tiny.en", device: str | None = None,
                 precision: str = "fp32", window: float | str = 30, stride: int = 1,
                 stride_at: int | str = "output", pool: str = "mean",
                 mel_padding: str = "zeros", vad_model: str | Path | SileroVad | None = None):
        """`vad_model`: the Silero VAD that `vad_filter` runs (loaded on first use): None or
        "silero-vad" (the silero-vad package's weights), "faster-whisper" (the
        silero_vad_v6.onnx faster-whisper bundles, run as it runs it: its exact chunks), the
        path of a Silero .jit / .onnx file (ModelLoadError naming it when there is none) or a
        loaded `SileroVad` (used as it is, its file not read again)."""
        from speechbudget.architectures import UnknownModelError, get_architecture
        from speechbudget.models.loading import load_whisper
        device = _device(device)
        check_mel_padding(mel_padding)
        vad_source = check_vad_model(vad_model)
        axes = dict(window=window, stride=stride, stride_at=stride_at, pool=pool,
                    precision=precision)
        try:  # a registry name or hub id: check every option before loading any weights
            _config(get_architecture(str(model)).name, axes, device)
        except UnknownModelError:
            pass  # a folder: its architecture is known once it is loaded
        bundle = load_whisper(str(model), device=device)
        self._setup(bundle, device, axes, own=True)
        self.mel_padding = mel_padding
        self._use_vad(vad_source)

    @classmethod
    def from_bundle(cls, bundle: Any, device: str | None = None, precision: str = "fp32",
                    window: float | str = 30, stride: int = 1, stride_at: int | str = "output",
                    pool: str = "mean", mel_padding: str = "zeros",
                    vad_model: str | Path | SileroVad | None = None) -> "WhisperModel":
        """Around an already loaded `models.loading.WhisperBundle` (e.g. one with an adapter
        merged in); the bundle is not changed (another precision runs on a copy). `vad_model`:
        as the constructor's."""
        check_mel_padding(mel_padding)
        vad_source = check_vad_model(vad_model)
        self = cls.__new__(cls)
        self._setup(bundle, _device(device), dict(window=window, stride=stride,
                                                  stride_at=stride_at, pool=pool,
                                                  precision=precision), own=False)
        self.mel_padding = mel_padding
        self._use_vad(vad_source)
        return self

    def _setup(self, bundle: Any, device: str, axes: dict[str, Any], own: bool) -> None:
        from speechbudget.tasks.asr.precision import cast_for_precision
        self.device = device
        self.config = _config(registry_name(bundle.arch), axes, device)
        model = cast_for_precision(bundle.model, self.config.precision, device)
        if own and model is not bundle.model and dataclasses.is_dataclass(bundle):
            bundle = dataclasses.replace(bundle, model=model)  # one copy of the weights in memory
        self.bundle = bundle
        self._model = model
        self._vad: SileroVad | None = None   # loaded by the first vad_filter=True call
        self.vad_source: str | Path | SileroVad | None = None   # the constructor's vad_model

    def _use_vad(self, source: str | Path | SileroVad | None) -> None:
        """The checked `vad_model` (check_vad_model): a loaded SileroVad is the one used."""
        self.vad_source = source
        self._vad = source if isinstance(source, SileroVad) else None

    @property
    def model_name(self) -> str:
        return self.config.model

    def __repr__(self) -> str:
        return f"WhisperModel({self.config.label!r}, device={self.device!r})"

    def transcribe(self, audio: str | Path | np.ndarray, *, beam_size: int = 1,
                   timestamps: str = "on", longform: str = "sequential", batch_size: int = 8,
                   no_speech_threshold: float | None = NO_SPEECH_THRESHOLD,
                   logprob_threshold: float | None = LOGPROB_THRESHOLD,
                   language: str | None = None, task: str = "transcribe",
                   condition_on_previous_text: bool = False,
                   temperature: float | Sequence[float] = 0.0,
                   compression_ratio_threshold: float | None = COMPRESSION_RATIO_THRESHOLD,
                   best_of: int = 5, seed: int = 0, word_timestamps: bool = False,
                   prepend_punctuations: str = PREPEND_PUNCTUATIONS,
                   append_punctuations: str = APPEND_PUNCTUATIONS,
                   initial_prompt: str | None = None, prefix: str | None = None,
                   hotwords: str | None = None, vad_filter: bool = False,
                   vad_parameters: dict[str, Any] | VadOptions | None = None,
                   clip_timestamps: str | Sequence[float] | None = None,
                   hallucination_silence_threshold: float | None = None,
                   language_detection_segments: int = 1,
                   language_detection_threshold: float = 0.5
                   ) -> tuple[list[Segment], TranscriptionInfo]:
        """(segments, info) of one recording of any length: a path (any format soundfile
        reads, resampled to 16 kHz) or a 1-D float array at 16 kHz.

        beam_size: 1 is greedy. timestamps: "on" (segments with their own times; the default, as
        in faster-whisper), "off" (one segment per window) or "auto" (on when the audio is longer
        than the window). longform: "sequential" (Whisper's seek rule) or "chunks" (equal chunks,
        for comparison; it takes no condition_on_previous_text). A window is silence when
        P(no-speech) > no_speech_threshold and its average log-probability < logprob_threshold
        (None turns a test off); digital silence is not decoded.
        language: a language code of the model's ("en", "de", ...: its <|xx|> tokens), or None:
        "en" on an English-only model, else detected on the recording's first window (as
        faster-whisper detects it on its first 30 s; here the configuration's window) and
        reported in `info.language`, `info.language_probability` and `info.all_language_probs`
        (`info.gflops` counts the detection's decoder step).
        language_detection_segments, language_detection_threshold: as faster-whisper, while the
        top language's probability is not above the threshold (0.5) the next window of the
        recording is looked at too (each encoded and its step counted in `info.gflops`), up to
        this many windows (1), and then the language most windows put first wins.
        task: "transcribe", or "translate"
        (to English; multilingual models). An English-only model refuses any other language or
        translate (ConfigError naming the field; faster-whisper warns and decodes English).
        condition_on_previous_text: prompt each window with the text kept from the previous one
        (<|startofprev|>, as openai-whisper). temperature: one value or an increasing sequence,
        e.g. (0.0, 0.2, 0.4, 0.6, 0.8, 1.0) as faster-whisper: a window whose text compresses
        better than compression_ratio_threshold (repetitive) or whose average log-probability is
        below logprob_threshold is decoded again at the next temperature by sampling (best_of
        samples, seeded by `seed`). Both are off by default here (the study's sweeps measure the
        configuration without them); `info.gflops` counts every attempt.
        word_timestamps: each segment gets `words` (`Word(start, end, word, probability)`, as
        faster-whisper) from the cross-attention of the model's alignment heads in one more
        decoder pass per window (docs/asr.md; `info.gflops` counts it); as in faster-whisper the
        segments' times then follow their words, and the next window starts where the last word
        ended. prepend_punctuations / append_punctuations: the marks merged into the next /
        previous word (faster-whisper's defaults).
        initial_prompt, prefix, hotwords: faster-whisper's prompt options, text encoded as
        " " + text.strip(). initial_prompt: text before the first window (after
        <|startofprev|>, as if it had been said before; with condition_on_previous_text it stays
        in the history). prefix: text forced as the start of the first window's output (it is in
        the first segment's text and tokens). hotwords: text after <|startofprev|> in every
        window without a prefix. Each is cut to 223 tokens (prefix and hotwords: the first ones;
        the history: the last), as faster-whisper; `info.gflops` counts the longer prompt. Text
        spelling a special token (<|endoftext|>) raises ConfigError naming the option.
        vad_filter: decode only the speech the Silero VAD finds (faster-whisper's `vad_filter`;
        needs `pip install speechbudget[vad]`, else VadUnavailableError): its chunks are joined
        and decoded, and the segments' and words' times mapped back to the recording.
        vad_parameters: None (faster-whisper's defaults), a dict of `VadOptions` fields or a
        VadOptions. `info.vad` says what was kept (`info.duration_after_vad`) and the VAD's own
        GFLOPs, which `info.gflops` (the decoding of the kept audio) does not include.
        clip_timestamps: decode only these clips of the recording, "start,end,start,end,..." in
        seconds (a string or a list of numbers; faster-whisper's option): the seek loop runs from
        each clip's start to its end, so segment times lie inside the clips and `info.gflops`
        counts their windows only; an odd count's last clip runs to the end, an end past the
        recording stops there; None, "0" or "" is the whole recording. Values that are not
        seconds >= 0, or clips out of order or overlapping, raise ConfigError. With clips the
        VAD does not run (faster-whisper ignores vad_filter then; a warning says so). A prefix
        goes on a window at 0 s only, as faster-whisper.
        hallucination_silence_threshold: with word_timestamps, seconds of silence skipped
        around a likely hallucination (faster-whisper's option and rules: a segment whose words
        are improbable or implausibly short or long, with silence before and after it, is
        dropped with what follows it in its window, and the next window starts at it; an
        anomalous first segment after more than this much silence makes the next window start
        at it). Without word_timestamps it does nothing, as faster-whisper (a warning says so).
        None: off."""
        return self.transcribe_batch(
            [audio], beam_size=beam_size, timestamps=timestamps, longform=longform,
            batch_size=batch_size, no_speech_threshold=no_speech_threshold,
            logprob_threshold=logprob_threshold, language=language, task=task,
            condition_on_previous_text=condition_on_previous_text, temperature=temperature,
            compression_ratio_threshold=compression_ratio_threshold, best_of=best_of,
            seed=seed, word_timestamps=word_timestamps,
            prepend_punctuations=prepend_punctuations,
            append_punctuations=append_punctuations, initial_prompt=initial_prompt,
            prefix=prefix, hotwords=hotwords, vad_filter=vad_filter,
            vad_parameters=vad_parameters, clip_timestamps=clip_timestamps,
            hallucination_silence_threshold=hallucination_silence_threshold,
            language_detection_segments=language_detection_segments,
            language_detection_threshold=language_detection_threshold)[0]

    def transcribe_batch(self, audios: Sequence[str | Path | np.ndarray], *, beam_size: int = 1,
                         timestamps: str = "on", longform: str = "sequential",
                         batch_size: int = 8,
                         no_speech_threshold: float | None = NO_SPEECH_THRESHOLD,
                         logprob_threshold: float | None = LOGPROB_THRESHOLD,
                         language: str | None = None, task: str = "transcribe",
                         condition_on_previous_text: bool = False,
                         temperature: float | Sequence[float] = 0.0,
                         compression_ratio_threshold: float | None =
                         COMPRESSION_RATIO_THRESHOLD, best_of: int = 5, seed: int = 0,
                         word_timestamps: bool = False,
                         prepend_punctuations: str = PREPEND_PUNCTUATIONS,
                         append_punctuations: str = APPEND_PUNCTUATIONS,
                         initial_prompt: str | None = None, prefix: str | None = None,
                         hotwords: str | None = None, vad_filter: bool = False,
                         vad_parameters: dict[str, Any] | VadOptions | None = None,
                         clip_timestamps: str | Sequence[float] | None = None,
                         hallucination_silence_threshold: float | None = None,
                         language_detection_segments: int = 1,
                         language_detection_threshold: float = 0.5
                         ) -> list[tuple[list[Segment], TranscriptionInfo]]:
        """`transcribe` for many recordings, decoded together in batches of `batch_size`
        windows (each recording keeps its own seek); results in the input order."""
        if isinstance(audios, (str, Path, bytes, np.ndarray)) or _is_tensor(audios):
            raise ConfigError("audios", type(audios).__name__,
                              "a list of paths or arrays (use transcribe for one recording)")
        cfg = self.config.with_(beam_size=beam_size, timestamps=timestamps, longform=longform)
        _check_int("batch_size", batch_size)
        _check_threshold("no_speech_threshold", no_speech_threshold, 0.0, 1.0)
        _check_threshold("logprob_threshold", logprob_threshold, -math.inf, 0.0)
        temps = check_fallback(temperature, best_of)
        if not isinstance(condition_on_previous_text, (bool, np.bool_)):  # bool("no") is True
            raise ConfigError("condition_on_previous_text", condition_on_previous_text,
                              "True or False")
        if condition_on_previous_text and cfg.longform == "chunks":  # it would be ignored
            raise ConfigError("condition_on_previous_text", True,
                              "False with longform='chunks' (its chunks are decoded "
                              "independently); use longform='sequential' to condition")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError("seed", seed, "an integer (the sampling seed of the fallback)")
        _check_threshold("compression_ratio_threshold", compression_ratio_threshold, 0.0,
                         math.inf)
        if not isinstance(word_timestamps, (bool, np.bool_)):
            raise ConfigError("word_timestamps", word_timestamps, "True or False")
        for name, marks in (("prepend_punctuations", prepend_punctuations),
                            ("append_punctuations", append_punctuations)):
            if not isinstance(marks, str):
                raise ConfigError(name, marks, "a string of punctuation marks")
        prompts = {name: check_prompt_text(name, v) for name, v in (
            ("initial_prompt", initial_prompt), ("prefix", prefix), ("hotwords", hotwords))}
        if not isinstance(vad_filter, (bool, np.bool_)):
            raise ConfigError("vad_filter", vad_filter, "True or False")
        vad_options = VadOptions.of(vad_parameters)
        clips = check_clip_timestamps(clip_timestamps)
        threshold = check_hallucination_silence_threshold(hallucination_silence_threshold)
        if clips is not None and vad_filter:
            warn_vad_ignored()
            vad_filter = False
        language, task = self.check_language(language, task)   # against the model's vocabulary
        from speechbudget.tasks.asr.language import check_detection_options
        segments, detect_threshold = check_detection_options(language_detection_segments,
                                                             language_detection_threshold)
        vad = self.vad_model() if vad_filter else None   # before any audio is read
        audios = list(audios)
        waves = [_wave(a, i, len(audios)) for i, a in enumerate(audios)]
        if not waves:
            return []
        return transcribe_bundle(
            self.bundle, cfg, waves, self.device, self._model, batch_size, no_speech_threshold,
            logprob_threshold, condition_on_previous_text=bool(condition_on_previous_text),
            temperatures=temps,
            compression_ratio_threshold=compression_ratio_threshold, best_of=best_of,
            seed=int(seed), word_timestamps=bool(word_timestamps),
            prepend_punctuations=prepend_punctuations, append_punctuations=append_punctuations,
            mel_padding=self.mel_padding, vad=vad, vad_options=vad_options,
            clip_timestamps=clips, hallucination_silence_threshold=threshold,
            language=language, task=task, language_detection_segments=segments,
            language_detection_threshold=detect_threshold, **prompts)

    def check_language(self, language: Any, task: Any) -> tuple[str | None, str]:
        """(language, task) checked against the model (`tasks.asr.language`): a code of its
        vocabulary or None, "transcribe" or "translate"; ConfigError naming the field (an
        English-only model: "en" or None, "transcribe")."""
        from speechbudget.tasks.asr.language import (bundle_codes, check_language, check_task,
                                                     is_multilingual)
        name = self.config.model
        check_task(task, not is_multilingual(self.bundle), name)
        return check_language(language, bundle_codes(self.bundle), name), task

    def detect_speech_language(self, chunks: Sequence[np.ndarray], segments: int = 1,
                               threshold: float = 0.5) -> Any:
        """The language of a recording's speech chunks (16 kHz arrays, in order) as
        faster-whisper's BatchedInferencePipeline detects it, once per recording, on the chunks'
        log-mels joined (`tasks.asr.language.detect_speech_language`: a `Detection`, its
        `gflops(config, reused=False)` the cost); None for an English-only model."""
        from speechbudget.tasks.asr.language import (bundle_codes, check_detection_options,
                                                     detect_speech_language, is_multilingual)
        from speechbudget.tasks.asr.pipeline import AsrPipeline
        segments, threshold = check_detection_options(segments, threshold)
        if not is_multilingual(self.bundle):
            return None
        pipe = AsrPipeline(self.bundle, self.config, self.device, model=self._model,
                           mel_padding=self.mel_padding)
        return detect_speech_language(pipe, chunks, bundle_codes(self.bundle), segments,
                                      threshold)

    def detect_language(self, audio: str | Path | np.ndarray, *, vad_filter: bool = False,
                        vad_parameters: dict[str, Any] | VadOptions | None = None,
                        language_detection_segments: int = 1,
                        language_detection_threshold: float = 0.5
                        ) -> tuple[str, float, list[tuple[str, float]]]:
        """faster-whisper's `detect_language` without transcribing: (language,
        language_probability, all_language_probs: [(code, probability)], most probable first)
        of a recording (a path or a 16 kHz float array; faster-whisper's `features=` is not
        taken). As `language_detection` (the same options); an English-only model answers
        ("en", 1.0, [("en", 1.0)]) without running (faster-whisper raises RuntimeError)."""
        found = self.language_detection(
            audio, vad_filter=vad_filter, vad_parameters=vad_parameters,
            language_detection_segments=language_detection_segments,
            language_detection_threshold=language_detection_threshold)
        if found is None:
            return "en", 1.0, [("en", 1.0)]
        return found.language, found.probability, list(found.all_probs)

    def language_detection(self, audio: str | Path | np.ndarray, *, vad_filter: bool = False,
                           vad_parameters: dict[str, Any] | VadOptions | None = None,
                           language_detection_segments: int = 1,
                           language_detection_threshold: float = 0.5) -> Any:
        """`detect_language`'s detection as a `tasks.asr.language.Detection` (language,
        probability, all_probs, the windows' frames; `.gflops(model.config, reused=False)`:
        every window's encoder pass and decoder step), None for an English-only model (nothing
        runs). The windows are the configuration's (`transcribe`'s first window, then the next
        ones, `language.detect_languages`), on the recording cut to
        language_detection_segments windows and, as faster-whisper's feature extractor, 160
        zero samples added (its log-mel floored at that part's peak - 8; one mel frame more
        than the transcription's first window, so empty audio or no speech is one frame of
        silence): with the default 30 s window, faster-whisper's rule and features.
        vad_filter: on the speech the VAD finds with vad_parameters, joined (as
        faster-whisper; the VAD's GFLOPs are not counted). ConfigError naming a bad option,
        AudioError for bad audio."""
        from speechbudget.geometry import HOP_LENGTH, SAMPLE_RATE
        from speechbudget.tasks.asr.language import (bundle_codes, check_detection_options,
                                                     detect_languages, is_multilingual)
        from speechbudget.tasks.asr.pipeline import AsrPipeline
        from speechbudget.tasks.asr.vad import split_speech
        if not isinstance(vad_filter, (bool, np.bool_)):
            raise ConfigError("vad_filter", vad_filter, "True or False")
        vad_options = VadOptions.of(vad_parameters)
        segments, threshold = check_detection_options(language_detection_segments,
                                                      language_detection_threshold)
        wave = _wave(audio, 0, 1)
        if not is_multilingual(self.bundle):
            return None
        if vad_filter:
            wave = split_speech(self.vad_model(), wave, vad_options).speech
        window_s = self.config.window_s_for(len(wave) / SAMPLE_RATE)
        wave = wave[:int(round(segments * window_s * SAMPLE_RATE))]
        # faster-whisper's feature extractor adds 160 zero samples (its `padding`): one more
        # mel frame, which its detection looks at (and empty audio has one frame, of silence)
        wave = np.pad(wave, (0, HOP_LENGTH))
        pipe = AsrPipeline(self.bundle, self.config, self.device, model=self._model,
                           mel_padding=self.mel_padding)
        found = detect_languages(pipe, [("audio", wave)], bundle_codes(self.bundle), 1, None,
                                 segments, threshold)
        return found["audio"]

    @property
    def supported_languages(self) -> list[str]:
        """The language codes the model decodes (faster-whisper's property): its vocabulary's
        <|xx|> tokens, ["en"] for an English-only model."""
        from speechbudget.tasks.asr.language import bundle_codes
        return list(bundle_codes(self.bundle))

    def vad_model(self) -> SileroVad:
        """The Silero VAD model `vad_filter` runs (the constructor's `vad_model`), loaded on
        first use and kept with this model; VadUnavailableError naming the extra to install
        (`vad`: silero-vad; `compare`: faster-whisper) when its package is missing."""
        if self._vad is None:
            self._vad = SileroVad(vad_model_path(self.vad_source))
        return self._vad


def _is_tensor(x: Any) -> bool:
    import torch
    return isinstance(x, torch.Tensor)


def _wave(audio: Any, i: int, n: int) -> np.ndarray:
    """`as_audio`; in a batch of several, an AudioError says which recording it is about."""
    from speechbudget.audio import AudioError
    try:
        return as_audio(audio)
    except AudioError as e:
        if n == 1:
            raise
        raise AudioError(f"audios[{i}]: {e}") from e


def _device(device: Any) -> str:
    import torch

    from speechbudget.machine import check_device, default_device
    if isinstance(device, torch.device):  # str() of it is what torch reads back
        device = str(device)
    if device == "auto":  # faster-whisper's default spelling of "a GPU if there is one"
        device = None
    return check_device(device or default_device())


def _config(arch_name: str, axes: dict[str, Any], device: str) -> Config:
    """The validated Config of these axes (ConfigError naming the field), checked against the
    device: fp16 needs a CUDA GPU, int8-dynamic the CPU."""
    cfg = Config(task="asr", model=arch_name, timestamps="on", **axes)
    on_cuda = device.startswith("cuda")
    if cfg.precision == "fp16" and not on_cuda:
        raise ConfigError("precision", "fp16", f"fp32, bf16 or int8-dynamic on {device} (fp16 "
                                               "runs on a CUDA GPU only)")
    if cfg.precision == "int8-dynamic" and on_cuda:
        raise ConfigError("precision", "int8-dynamic", f"fp32, bf16 or fp16 on {device} "
                                                       "(int8-dynamic runs on the CPU only)")
    return cfg


def _check_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(name, value, "an integer >= 1")


def _check_threshold(name: str, value: Any, lo: float, hi: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not lo <= float(value) <= hi:
        span = f"[{lo:g}, {hi:g}]" if math.isfinite(lo) else f"<= {hi:g}"
        raise ConfigError(name, value, f"a number {span}, or None (test off)")
