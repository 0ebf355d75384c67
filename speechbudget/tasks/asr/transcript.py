"""What transcribing a recording gives: its `Segment`s (faster-whisper's / openai-whisper's
segment fields) and the `Transcript` holding them and every window decoded."""
from __future__ import annotations

from dataclasses import dataclass, field

from speechbudget.tasks.asr import word_timing as wt
from speechbudget.tasks.asr.windows import Row


@dataclass
class Segment:
    """A piece of a transcript with faster-whisper's / openai-whisper's segment fields. The
    window fields are None on a segment not made by `AsrPipeline`; `words` is None unless word
    timestamps were asked for (`AsrPipeline(word_timestamps=True)`)."""

    start: float
    end: float
    text: str
    tokens: list[int] = field(default_factory=list)  # timestamp tokens included, as both
    avg_logprob: float | None = None     # of the window the segment came from
    no_speech_prob: float | None = None  # idem: P(no-speech) at its first decoding step
    id: int | None = None                # its index in the recording's segments, from 0
    seek: int | None = None              # the window's start, in mel frames (10 ms)
    compression_ratio: float | None = None  # of the window's text (the fallback's test)
    temperature: float | None = None     # of the window's last decoding pass (faster-whisper's
    #                                      value: with every fallback failed, the text kept is
    #                                      the best attempt's, maybe an earlier pass's)
    words: list[wt.Word] | None = None   # per-word times (`tasks.asr.word_timing`)


@dataclass
class Transcript:
    """One utterance through the long-form rule: its segments and every window decoded."""

    item_id: str
    segments: list[Segment] = field(default_factory=list)
    windows: list[Row] = field(default_factory=list)   # decoded windows
    no_speech_windows: int = 0   # windows without speech (decoded, or digital silence)
    silent_windows: int = 0      # digital silence: not decoded
    last_speech_s: float = 0.0   # word timestamps: where the last window's words ended

    @property
    def text(self) -> str:
        return " ".join(t for t in (s.text.strip() for s in self.segments) if t)
