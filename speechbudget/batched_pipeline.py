"""`BatchedInferencePipeline`: faster-whisper's batched long-form mode around a `WhisperModel`.

    from speechbudget import BatchedInferencePipeline, WhisperModel
    batched = BatchedInferencePipeline(WhisperModel("tiny.en"))
    segments, info = batched.transcribe("talk.flac", batch_size=16)

The Silero VAD finds the speech, the speech is joined into chunks of at most `chunk_length`
(30) seconds, and the chunks are decoded independently, `batch_size` at a time, by the model's
`transcribe_batch` (its configuration: window, stride, precision; each chunk a recording of its
own); the segments' times are the recording's. The rules and where they differ from faster-whisper
1.2.1: `tasks.asr.batched` and docs/asr.md. Needs `pip install speechbudget[vad]` unless
`vad_filter=False`.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from speechbudget.tasks.asr.batched import (batched_vad_options, check_batched_clips,
                                            check_chunk_length, decode_plan, plan_chunks)
from speechbudget.tasks.asr.options import check_fallback
from speechbudget.tasks.asr.transcribe import (Segment, TranscriptionInfo, as_audio,
                                               decoded_language)
from speechbudget.tasks.asr.vad_rules import VadOptions
from speechbudget.tasks.asr.word_timing import APPEND_PUNCTUATIONS, PREPEND_PUNCTUATIONS
from speechbudget.whisper_model import WhisperModel

__all__ = ["BatchedInferencePipeline"]


class BatchedInferencePipeline:
    """faster-whisper's `BatchedInferencePipeline(model)`: `transcribe` decodes a recording's
    speech chunks in batches."""

    def __init__(self, model: WhisperModel):
        if not isinstance(model, WhisperModel):
            from speechbudget.axes import ConfigError
            raise ConfigError("model", type(model).__name__, "a speechbudget.WhisperModel")
        self.model = model

    def __repr__(self) -> str:
        return f"BatchedInferencePipeline({self.model!r})"

    def transcribe(self, audio: str | Path | np.ndarray, language: str | None = None, *,
                   beam_size: int = 1, best_of: int = 5,
                   temperature: float | Sequence[float] = 0.0,
                   compression_ratio_threshold: float | None = 2.4,
                   log_prob_threshold: float | None = -1.0,
                   no_speech_threshold: float | None = 0.6,
                   condition_on_previous_text: bool = True,
                   initial_prompt: str | None = None, prefix: str | None = None,
                   without_timestamps: bool = True, word_timestamps: bool = False,
                   prepend_punctuations: str = PREPEND_PUNCTUATIONS,
                   append_punctuations: str = APPEND_PUNCTUATIONS, vad_filter: bool = True,
                   vad_parameters: Mapping[str, Any] | VadOptions | None = None,
                   chunk_length: float | None = None,
                   clip_timestamps: Sequence[Mapping[str, float]] | None = None,
                   hallucination_silence_threshold: float | None = None, batch_size: int = 8,
                   hotwords: str | None = None, seed: int = 0, task: str = "transcribe",
                   language_detection_threshold: float = 0.5,
                   language_detection_segments: int = 1
                   ) -> tuple[list[Segment], TranscriptionInfo]:
        """(segments, info) of one recording (a path or a 16 kHz float array), as
        faster-whisper 1.2.1's `BatchedInferencePipeline.transcribe` with the options that exist
        here (keywords after `language`); its defaults, except greedy decoding at temperature 0
        (beam_size=1, as `WhisperModel.transcribe`).

        vad_filter (True): chunks of the speech the Silero VAD finds, with vad_parameters as
        faster-whisper's batched pipeline sets them (None: min_silence_duration_ms=160 and
        max_speech_duration_s=chunk_length; a dict: its fields, with max_speech_duration_s =
        chunk_length; a VadOptions: as it is). chunk_length: at most this many seconds of speech
        per chunk (None: 30). clip_timestamps: [{"start": s, "end": e}, ...] in seconds: each
        clip decoded as a chunk (the VAD does not run). vad_filter=False without clips: audio
        shorter than chunk_length is one chunk, longer is refused (ConfigError). batch_size:
        chunks decoded together. without_timestamps (True): each chunk's text is one segment
        spanning the chunk; False: the timestamp tokens split it. language None on a
        multilingual model: detected once per recording, as faster-whisper, on the speech
        chunks' log-mels joined (each chunk's own, one dummy frame after them), cut into the
        configuration's windows (30 s): up to language_detection_segments windows while the
        top language is not more probable than language_detection_threshold, then the
        majority vote; every chunk is decoded in that language, `info.language` /
        `language_probability` / `all_language_probs` are the detection's and `info.gflops`
        counts its encoder passes and decoder steps. beam_size, language, task,
        initial_prompt and hotwords (in every chunk's prompt), word_timestamps and the
        punctuations: as `WhisperModel.transcribe`. temperature: only its first value is used
        (no fallback), sampling one candidate per chunk when it is above 0 (`seed`).
        Accepted and unused, as in faster-whisper's batched pipeline: best_of,
        compression_ratio_threshold, log_prob_threshold, no_speech_threshold (no chunk is
        dropped as silence), condition_on_previous_text (chunks are independent), prefix and
        hallucination_silence_threshold (a warning says so when they are given).

        info: the recording's duration; windows, tokens and `gflops` of every chunk decoded;
        `info.vad` what the VAD kept and its own GFLOPs (not in `gflops`)."""
        from speechbudget.tasks.asr.options import check_prompt_text
        length = check_chunk_length(chunk_length)
        clips = check_batched_clips(clip_timestamps)
        if not isinstance(vad_filter, (bool, np.bool_)):
            from speechbudget.axes import ConfigError
            raise ConfigError("vad_filter", vad_filter, "True or False")
        if not isinstance(without_timestamps, (bool, np.bool_)):
            from speechbudget.axes import ConfigError
            raise ConfigError("without_timestamps", without_timestamps, "True or False")
        vad_options = batched_vad_options(vad_parameters, length)
        first = check_fallback(temperature, best_of)[0]
        for name, value in (("prefix", check_prompt_text("prefix", prefix)),
                            ("hallucination_silence_threshold",
                             hallucination_silence_threshold)):
            if value is not None:
                warnings.warn(f"{name} is not used by the batched pipeline (as faster-whisper's "
                              "BatchedInferencePipeline)", stacklevel=2)
        # without timestamps each chunk is one window decoded once (the "chunks" rule), as
        # faster-whisper; with them the seek rule splits it at its timestamps (tasks.asr.batched)
        longform = "chunks" if without_timestamps else "sequential"
        options = dict(beam_size=beam_size, timestamps="off" if without_timestamps else "on",
                       longform=longform, batch_size=batch_size, no_speech_threshold=None,
                       logprob_threshold=None, language=language, task=task,
                       condition_on_previous_text=False, temperature=first, best_of=1,
                       seed=seed, word_timestamps=word_timestamps,
                       prepend_punctuations=prepend_punctuations,
                       append_punctuations=append_punctuations, initial_prompt=initial_prompt,
                       hotwords=hotwords,
                       language_detection_segments=language_detection_segments,
                       language_detection_threshold=language_detection_threshold)
        self.model.transcribe_batch([], **options)   # every option checked before any work
        vad = self.model.vad_model() if vad_filter and not clips else None
        plan = plan_chunks(as_audio(audio), length, vad, vad_options, clips)
        config = self.model.config.with_(beam_size=beam_size, timestamps=options["timestamps"],
                                         longform=longform)
        detection = None
        if language is None:   # once per recording, on its speech (None: English-only)
            detection = self.model.detect_speech_language(
                [c.audio for c in plan.chunks], language_detection_segments,
                language_detection_threshold)
            if detection is not None:
                options["language"] = detection.language
        return decode_plan(plan, lambda waves: self.model.transcribe_batch(waves, **options),
                           config, decoded_language(self.model.bundle), detection)
