"""The voice-activity filter's rules, apart from the network that gives the probabilities
(`vad.SileroVad`): faster-whisper 1.2.1's `VadOptions`, its chunk rules on one speech probability
per 512-sample frame (`chunks_from_probs`, `pad_chunks`; the rules are described in `vad`'s
docstring), the speech joined (`speech_audio`) and its times put back on the recording
(`TimeMap`, `restore_times`), and what the filter kept (`VadResult`, `SpeechSplit`)."""
from __future__ import annotations

import bisect
import dataclasses
import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from speechbudget.axes import ConfigError
from speechbudget.geometry import SAMPLE_RATE
from speechbudget.tasks.asr.transcript import Segment

__all__ = ["FRAME", "VadOptions", "chunks_from_probs", "pad_chunks", "speech_audio", "TimeMap",
           "restore_times", "VadResult", "SpeechSplit"]

FRAME = 512        # samples per speech probability at 16 kHz (32 ms)
SPLIT_SILENCE_MS = 98  # a silence this long is where an over-long chunk may be split


@dataclasses.dataclass(frozen=True)
class VadOptions:
    """faster-whisper's `VadOptions`, with its defaults; a bad value raises ConfigError."""

    threshold: float = 0.5                 # a frame at or above it is speech
    neg_threshold: float | None = None     # below it, silence (None: max(threshold - 0.15, 0.01))
    min_speech_duration_ms: int = 0        # shorter chunks are dropped
    max_speech_duration_s: float = math.inf  # longer chunks are split
    min_silence_duration_ms: int = 2000    # silence that ends a chunk
    speech_pad_ms: int = 400               # added on each side of a chunk

    def __post_init__(self) -> None:
        def number(name: str, lo: float, hi: float = math.inf, none: bool = False) -> None:
            v = getattr(self, name)
            if none and v is None:
                return
            if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) \
                    or not lo <= v <= hi:
                span = f"in [{lo:g}, {hi:g}]" if math.isfinite(hi) else f">= {lo:g}"
                raise ConfigError(f"vad_parameters.{name}", v,
                                  f"a number {span}" + (", or None" if none else ""))
        number("threshold", 0.0, 1.0)
        number("neg_threshold", 0.0, 1.0, none=True)
        number("min_speech_duration_ms", 0.0)
        number("max_speech_duration_s", 0.0)
        number("min_silence_duration_ms", 0.0)
        number("speech_pad_ms", 0.0)

    @classmethod
    def of(cls, value: "VadOptions | Mapping[str, Any] | None") -> "VadOptions":
        """`vad_parameters` as faster-whisper takes it: None (the defaults), a dict of fields or
        a VadOptions; ConfigError naming an unknown key or a bad value."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError("vad_parameters", value, "None, a dict of VadOptions fields or a "
                                                       "VadOptions")
        fields = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(value) - set(fields), key=str)
        if unknown:
            raise ConfigError("vad_parameters", unknown[0], f"one of {', '.join(fields)}")
        return cls(**value)

    @property
    def silence_threshold(self) -> float:
        return max(self.threshold - 0.15, 0.01) if self.neg_threshold is None \
            else self.neg_threshold


def chunks_from_probs(probs: Sequence[float], n_samples: int, options: VadOptions,
                      sampling_rate: int = SAMPLE_RATE) -> list[tuple[int, int]]:
    """faster-whisper's rules (the module's docstring) on one probability per FRAME samples."""
    per_ms = sampling_rate / 1000
    pad = per_ms * options.speech_pad_ms
    min_speech = per_ms * options.min_speech_duration_ms
    min_silence = per_ms * options.min_silence_duration_ms
    # a chunk may grow to this many samples before it is split (its padding still to come)
    max_speech = sampling_rate * options.max_speech_duration_s - FRAME - 2 * pad
    split_silence = per_ms * SPLIT_SILENCE_MS
    on, off = options.threshold, options.silence_threshold

    found: list[list[int]] = []
    start: int | None = None        # the open chunk's start (None: not in speech)
    quiet_from = 0                  # where the current run of silence began (0: none)
    split_at = 0                    # the end of the last silence > 98 ms in this chunk (0: none)
    resume_at = 0                   # where speech came back after it (0: not yet)
    for i, p in enumerate(probs):
        t = i * FRAME
        if p >= on and quiet_from:  # speech again: the silence did not end the chunk
            quiet_from = 0
            if resume_at < split_at:
                resume_at = t
        if p >= on and start is None:
            start = t
            continue
        if start is not None and t - start > max_speech:
            if split_at:            # cut at the last long-enough silence
                found.append([start, split_at])
                start = resume_at if resume_at >= split_at else None
                quiet_from = split_at = resume_at = 0
            else:                   # no silence to cut at: cut here
                found.append([start, t])
                start, quiet_from, split_at, resume_at = None, 0, 0, 0
                continue
        if start is not None and p < off:
            quiet_from = quiet_from or t
            if t - quiet_from > split_silence:
                split_at = quiet_from
            if t - quiet_from >= min_silence:
                if quiet_from - start > min_speech:
                    found.append([start, quiet_from])
                start, quiet_from, split_at, resume_at = None, 0, 0, 0
    if start is not None and n_samples - start > min_speech:
        found.append([start, n_samples])
    return pad_chunks(found, pad, n_samples)


def pad_chunks(found: list[list[int]], pad: float, n_samples: int) -> list[tuple[int, int]]:
    """Each chunk widened by `pad` samples on both sides, within the recording; two chunks
    closer than 2 x pad share the gap between them (half each)."""
    if found:
        found[0][0] = int(max(0, found[0][0] - pad))
    for here, after in zip(found, found[1:]):
        gap = after[0] - here[1]
        if gap < 2 * pad:
            here[1] += gap // 2
            after[0] = int(max(0, after[0] - gap // 2))
        else:
            here[1] = int(min(n_samples, here[1] + pad))
            after[0] = int(max(0, after[0] - pad))
    if found:
        found[-1][1] = int(min(n_samples, found[-1][1] + pad))
    return [(int(s), int(e)) for s, e in found]


def speech_audio(audio: np.ndarray, chunks: Sequence[tuple[int, int]]) -> np.ndarray:
    """The chunks of `audio` joined end to end (what is decoded); empty when there are none."""
    if not chunks:
        return np.zeros(0, np.float32)
    return np.concatenate([audio[s:e] for s, e in chunks]).astype(np.float32, copy=False)


class TimeMap:
    """Maps a time of the joined speech (`speech_audio`) back to the recording, as
    faster-whisper's `SpeechTimestampsMap`: a time belongs to the chunk it falls in (a time
    exactly at a chunk's end, as an end, to that chunk) and moves by the silence removed before
    that chunk; the result is rounded to 10 ms (2 decimals)."""

    def __init__(self, chunks: Sequence[tuple[int, int]], sampling_rate: int = SAMPLE_RATE,
                 decimals: int = 2):
        self.sampling_rate, self.decimals = sampling_rate, decimals
        self.ends: list[int] = []           # each chunk's end in the joined audio, in samples
        self.shift: list[float] = []        # seconds removed before each chunk
        removed, last_end = 0, 0
        for start, end in chunks:
            removed += start - last_end
            last_end = end
            self.ends.append(end - removed)
            self.shift.append(removed / sampling_rate)

    def chunk_of(self, time: float, is_end: bool = False) -> int:
        sample = int(time * self.sampling_rate)
        if is_end and sample in self.ends:
            return self.ends.index(sample)
        return min(bisect.bisect(self.ends, sample), len(self.ends) - 1)

    def original(self, time: float, chunk: int | None = None, is_end: bool = False) -> float:
        """`time` (seconds of the joined speech) in seconds of the recording."""
        if chunk is None:
            chunk = self.chunk_of(time, is_end)
        return round(self.shift[chunk] + time, self.decimals)


def restore_times(segments: Iterable[Segment], times: TimeMap) -> list[Segment]:
    """The segments with their (and their words') times in the recording, as faster-whisper's
    `restore_speech_timestamps`: a word's start and end move with the chunk its middle is in,
    and a segment with words then spans them; one without words maps its start, and its end as
    an end."""
    out = []
    for seg in segments:
        if seg.words:
            words = []
            for w in seg.words:
                chunk = times.chunk_of((w.start + w.end) / 2)
                words.append(w._replace(start=times.original(w.start, chunk),
                                        end=times.original(w.end, chunk)))
            out.append(dataclasses.replace(seg, start=words[0].start, end=words[-1].end,
                                           words=words))
        else:
            out.append(dataclasses.replace(seg, start=times.original(seg.start),
                                           end=times.original(seg.end, is_end=True)))
    return out


@dataclasses.dataclass(frozen=True)
class VadResult:
    """What the filter kept of one recording (`TranscriptionInfo.vad`)."""

    options: VadOptions
    chunks: tuple[tuple[float, float], ...]   # the speech decoded: (start, end) seconds
    duration_after_vad: float                 # their total, seconds (faster-whisper's name)
    gflops: float                             # the VAD network's own analytic cost; not in
    #                                           TranscriptionInfo.gflops (docs/asr.md)

    def to_dict(self) -> dict[str, Any]:
        return {"options": dataclasses.asdict(self.options),
                "chunks": [list(c) for c in self.chunks],
                "duration_after_vad": self.duration_after_vad, "gflops": self.gflops}


@dataclasses.dataclass(frozen=True)
class SpeechSplit:
    """A recording cut to its speech: the audio to decode and how to give its times back."""

    speech: np.ndarray                  # the chunks joined (empty: no speech)
    chunks: list[tuple[int, int]]       # (start, end) samples of the recording
    result: VadResult

    def restore(self, segments: Iterable[Segment]) -> list[Segment]:
        """Segments of `speech` with the recording's times (`restore_times`)."""
        return restore_times(segments, TimeMap(self.chunks)) if self.chunks else list(segments)
