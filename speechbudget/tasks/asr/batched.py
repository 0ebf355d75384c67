"""Batched long-form transcription: faster-whisper 1.2.1's `BatchedInferencePipeline`.

    plan = plan_chunks(audio, vad=SileroVad(), vad_options=batched_vad_options(None, 30))
    results = decode([c.audio for c in plan.chunks])   # each chunk a recording of its own
    segments = place_segments(plan, [segs for segs, _ in results])

As faster-whisper 1.2.1 (`BatchedInferencePipeline.transcribe` and `vad.collect_chunks`, which
holds what older versions called `merge_segments`):
  - the Silero VAD finds the speech with `batched_vad_options` (its defaults there:
    max_speech_duration_s = chunk_length, min_silence_duration_ms = 160; a dict of options gets
    max_speech_duration_s = chunk_length whatever it says; a VadOptions is used as it is);
  - `merge_speech_chunks`: the speech pieces, in order, are joined into chunks of at most
    chunk_length seconds of *speech* (the silence between pieces is not in them): a piece that
    would take the open chunk past chunk_length starts the next chunk. A chunk's audio is its
    pieces joined; its offset is where it starts in the joined speech. A piece longer than
    chunk_length is a chunk of its own (when it is the first piece, an empty chunk comes
    before it, as there);
  - each chunk is decoded on its own, batched (nothing is carried from one chunk to the next:
    no conditioning, the same prompt in each), and its segments' times move by its offset; with
    the VAD they are then mapped back to the recording as `vad_filter` maps them
    (`tasks.asr.vad_rules.restore_times`);
  - `clip_timestamps` (a list of {"start": s, "end": e} in seconds; the VAD is not run): each
    clip is a chunk of the recording's audio from int(start x 16000) to int(end x 16000),
    unmerged, its segments moved by its start;
  - without the VAD and without clips, audio shorter than chunk_length is one chunk; longer audio
    is refused (faster-whisper raises RuntimeError).
Where this differs (docs/asr.md): a chunk is decoded by the configuration's long-form rule, so a
chunk longer than the window (a VadOptions allowing longer speech, a long clip) is decoded whole
where faster-whisper decodes its first 30 s only, and with timestamps the text after a chunk's
last complete segment is decoded again from there where faster-whisper drops it; an empty chunk
has no window.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from speechbudget.axes import ConfigError
from speechbudget.geometry import MEL_FRAMES_PER_S, SAMPLE_RATE
from speechbudget.tasks.asr.transcribe import TranscriptionInfo
from speechbudget.tasks.asr.transcript import Segment
from speechbudget.tasks.asr.vad import SileroVad, split_speech
from speechbudget.tasks.asr.vad_rules import TimeMap, VadOptions, VadResult, restore_times

__all__ = ["CHUNK_LENGTH", "MergedChunk", "Chunk", "ChunkPlan", "merge_speech_chunks",
           "batched_vad_options", "check_chunk_length", "check_batched_clips", "plan_chunks",
           "place_segments", "decode_plan", "merged_info"]

CHUNK_LENGTH = 30   # seconds: faster-whisper's default (its feature extractor's chunk length)


@dataclasses.dataclass(frozen=True)
class MergedChunk:
    """Speech pieces joined into one chunk: where it starts in the joined speech and how long it
    is (samples), and the pieces of the recording it holds ((start, end) samples, in order)."""

    offset: int
    duration: int
    pieces: tuple[tuple[int, int], ...]

    def audio(self, recording: np.ndarray) -> np.ndarray:
        """The chunk's audio: its pieces of `recording` joined."""
        if not self.pieces:
            return np.zeros(0, np.float32)
        return np.concatenate([recording[s:e] for s, e in self.pieces]).astype(np.float32,
                                                                              copy=False)


def merge_speech_chunks(pieces: Sequence[tuple[int, int]], max_samples: float
                        ) -> list[MergedChunk]:
    """faster-whisper 1.2.1's `collect_chunks(audio, pieces, max_duration=chunk_length)`: the
    pieces, in order, joined into chunks of at most `max_samples` samples (chunk_length x 16000);
    a piece that would take the open chunk past it closes that chunk and opens the next one (so
    a first piece longer than it leaves an empty chunk before it). No pieces: one empty chunk.
    (faster-whisper's metadata lists a chunk's pieces without the one that opened it; the
    pieces here are all of them; the offsets, durations and audio are its own.)"""
    if not pieces:
        return [MergedChunk(0, 0, ())]
    out: list[MergedChunk] = []
    open_pieces: list[tuple[int, int]] = []
    length = offset = 0
    for start, end in pieces:
        if length + end - start > max_samples:
            out.append(MergedChunk(offset, length, tuple(open_pieces)))
            offset += length
            open_pieces, length = [(start, end)], end - start
        else:
            open_pieces.append((start, end))
            length += end - start
    out.append(MergedChunk(offset, length, tuple(open_pieces)))
    return out


def check_chunk_length(value: Any) -> float:
    """`chunk_length` (None: 30 s, faster-whisper's default): seconds in (0, 30]; a chunk is
    decoded in one 30 s window (as faster-whisper's features are cut to 30 s)."""
    if value is None:
        return float(CHUNK_LENGTH)
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0 < value <= CHUNK_LENGTH:
        raise ConfigError("chunk_length", value, f"seconds in (0, {CHUNK_LENGTH}], or None "
                                                 f"({CHUNK_LENGTH})")
    return float(value)


def batched_vad_options(vad_parameters: VadOptions | Mapping[str, Any] | None,
                        chunk_length: float) -> VadOptions:
    """The VAD's options in the batched pipeline, as faster-whisper's: None -> VadOptions(
    max_speech_duration_s=chunk_length, min_silence_duration_ms=160); a dict -> its fields with
    max_speech_duration_s = chunk_length (a value given for it is dropped); a VadOptions as it
    is. ConfigError naming a bad field."""
    if vad_parameters is None:
        return VadOptions(max_speech_duration_s=chunk_length, min_silence_duration_ms=160)
    if isinstance(vad_parameters, Mapping):
        fields = {k: v for k, v in vad_parameters.items() if k != "max_speech_duration_s"}
        return VadOptions.of({**fields, "max_speech_duration_s": chunk_length})
    return VadOptions.of(vad_parameters)


def check_batched_clips(clips: Any) -> list[tuple[float, float]] | None:
    """The batched pipeline's `clip_timestamps` as faster-whisper takes them: None (or empty),
    or a list of {"start": seconds, "end": seconds} with 0 <= start < end; ConfigError naming
    the clip otherwise."""
    if clips is None or (isinstance(clips, (list, tuple)) and not clips):
        return None
    if isinstance(clips, (str, bytes, Mapping)) or not isinstance(clips, Iterable):
        raise ConfigError("clip_timestamps", clips, 'a list of {"start": s, "end": s} in '
                                                    "seconds (the batched pipeline's form)")
    out = []
    for i, clip in enumerate(clips):
        ok = isinstance(clip, Mapping) and set(clip) == {"start", "end"} and all(
            not isinstance(clip[k], bool) and isinstance(clip[k], (int, float))
            and math.isfinite(clip[k]) for k in ("start", "end"))
        if not ok or not 0 <= clip["start"] < clip["end"]:
            raise ConfigError(f"clip_timestamps[{i}]", clip,
                              '{"start": s, "end": e} in seconds with 0 <= start < end')
        out.append((float(clip["start"]), float(clip["end"])))
    return out


@dataclasses.dataclass(frozen=True)
class Chunk:
    """One chunk to decode: its audio, and the seconds its times move by (offset)."""

    audio: np.ndarray
    offset: float


@dataclasses.dataclass(frozen=True)
class ChunkPlan:
    """What the batched pipeline decodes of one recording, and how its times go back."""

    chunks: list[Chunk]
    duration: float                       # seconds of the recording
    duration_after_vad: float             # seconds in the chunks (speech, or the clips)
    vad: VadResult | None                 # what the VAD kept (None: clips or the whole audio)
    times: TimeMap | None                 # joined speech -> recording (None: offsets are the
    #                                       recording's own)


def plan_chunks(audio: np.ndarray, chunk_length: float = CHUNK_LENGTH,
                vad: SileroVad | None = None, vad_options: VadOptions | None = None,
                clips: Sequence[tuple[float, float]] | None = None) -> ChunkPlan:
    """The chunks of `audio` (16 kHz) as faster-whisper's batched pipeline makes them (module
    docstring): `clips` when given (the VAD does not run), else the VAD's speech merged into
    chunks of at most `chunk_length` s when `vad` is given, else the whole audio when it is
    shorter than chunk_length (ConfigError on vad_filter otherwise)."""
    duration = len(audio) / SAMPLE_RATE
    if clips:
        spans = [(int(s * SAMPLE_RATE), int(e * SAMPLE_RATE)) for s, e in clips]
        return ChunkPlan([Chunk(audio[s:e], s / SAMPLE_RATE) for s, e in spans], duration,
                         sum(e - s for s, e in spans) / SAMPLE_RATE, None, None)
    if vad is None:
        if duration >= chunk_length:
            raise ConfigError("vad_filter", False,
                              f"True, or clip_timestamps, for audio of {duration:.1f} s (not "
                              f"shorter than chunk_length={chunk_length:g} s): the batched "
                              "pipeline decodes only the speech chunks or the clips")
        return ChunkPlan([Chunk(audio, 0.0)], duration, duration, None, None)
    split = split_speech(vad, audio, vad_options)
    merged = merge_speech_chunks(split.chunks, chunk_length * SAMPLE_RATE)
    return ChunkPlan([Chunk(m.audio(audio), m.offset / SAMPLE_RATE) for m in merged],
                     duration, split.result.duration_after_vad, split.result,
                     TimeMap(split.chunks) if split.chunks else None)


def place_segments(plan: ChunkPlan, per_chunk: Sequence[Sequence[Segment]]) -> list[Segment]:
    """The chunks' segments (each in its chunk's own time) in the recording's time, as
    faster-whisper places them: a segment moved by its chunk's offset (rounded to 1 ms), a word
    by the offset cut down to a whole mel frame (10 ms: its `seek`, rounded to 10 ms); then
    mapped back through the VAD's time map when there is one; numbered from 0 in order. `seek`
    is the window's mel frame in the decoded audio (the chunk's offset + the window's seek)."""
    out: list[Segment] = []
    for chunk, segs in zip(plan.chunks, per_chunk):
        base = int(chunk.offset * MEL_FRAMES_PER_S)
        for s in segs:
            at = base / MEL_FRAMES_PER_S
            words = None if s.words is None else [
                w._replace(start=round(at + w.start, 2), end=round(at + w.end, 2))
                for w in s.words]
            out.append(dataclasses.replace(
                s, start=round(chunk.offset + s.start, 3), end=round(chunk.offset + s.end, 3),
                words=words, id=len(out), seek=base + (s.seek or 0)))
    return restore_times(out, plan.times) if plan.times is not None else out


def decode_plan(plan: ChunkPlan, decode: Callable[[list[np.ndarray]], list[tuple[
        list[Segment], TranscriptionInfo]]], config: Any, language: str | None,
                detection: Any = None) -> tuple[list[Segment], TranscriptionInfo]:
    """(segments, info) of the recording: its chunks decoded by `decode` in one call (a list of
    16 kHz arrays -> [(segments, info)] each in its own time: `WhisperModel.transcribe_batch`,
    which decodes their windows `batch_size` at a time), placed (`place_segments`), their infos
    merged (`merged_info`, with the recording's language `detection` when there was one). An
    empty chunk is not decoded."""
    todo = [k for k, c in enumerate(plan.chunks) if len(c.audio)]
    per_chunk: list[list[Segment]] = [[] for _ in plan.chunks]
    infos: list[TranscriptionInfo] = []
    for k, (segs, info) in zip(todo, decode([plan.chunks[k].audio for k in todo]) if todo
                               else []):
        per_chunk[k] = segs
        infos.append(info)
    segments = place_segments(plan, per_chunk)
    return segments, merged_info(plan, infos, segments, config, language, detection)


def merged_info(plan: ChunkPlan, infos: Sequence[TranscriptionInfo], segments: Sequence[Segment],
                config: Any, language: str | None, detection: Any = None) -> TranscriptionInfo:
    """One `TranscriptionInfo` for the recording from its chunks' (each decoded as a recording of
    its own): their windows, tokens and FLOPs summed, the recording's duration, the VAD's result
    (its own FLOPs in `vad.gflops`, not in `gflops`), the text of the placed `segments` joined.
    `config` and `language`: the configuration and language decoded (for no chunk decoded);
    the language, its probabilities and the task: the first chunk's, or with `detection` (a
    `tasks.asr.language.Detection`: language=None on a multilingual model, detected once on the
    recording's speech, `language.detect_speech_language`) its language and probabilities,
    its FLOPs added to `gflops`."""
    summed = {k: sum(getattr(i, k) for i in infos) for k in (
        "windows", "no_speech_windows", "silent_windows", "decoded_tokens", "stopped_by_limit",
        "repetition_cut")}
    first = infos[0] if infos else None
    probability = first.language_probability if first else None
    every = first.all_language_probs if first else None
    gflops = float(sum(i.gflops for i in infos))
    if detection is not None:
        language, probability = detection.language, detection.probability
        every = list(detection.all_probs)
        gflops += detection.gflops(config, False)
    elif first is not None:
        language = first.language
    return TranscriptionInfo(
        duration=plan.duration, language=language, language_probability=probability,
        all_language_probs=every, task=first.task if first else "transcribe",
        gflops=gflops, config=infos[0].config if infos else config,
        text=" ".join(t for t in (s.text.strip() for s in segments) if t), vad=plan.vad,
        **summed)
