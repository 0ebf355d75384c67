"""One window to transcribe (`Row`: its audio, features, encoder states and decoded tokens), each
decoding pass of it (`Attempt`), its token limit (`max_new_tokens`), the compression ratio of its
text (the temperature fallback's test), its analytic FLOPs (`window_gflops`), and the "chunks"
rule's cut of a recording (`chunk_audio`)."""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np
from torch import Tensor

from speechbudget.axes import Config
from speechbudget.geometry import HOP_LENGTH, MEL_FRAMES_PER_S, SAMPLE_RATE
from speechbudget.tasks.asr import word_timing as wt

MAX_TOKENS_PER_S = 8.0     # stop rule: at most 8 tokens per second of chunk audio (+ margin)
MAX_TOKENS_MARGIN = 16     # ~3 tokens/s is typical read speech; loops are cut long before 448


def chunk_audio(audio: np.ndarray, window_s: float) -> list[np.ndarray]:
    """Consecutive equal-length chunks of at most `window_s` seconds (the "chunks" rule: see
    `longform`); none for an empty recording."""
    n_samples = len(audio)
    if n_samples == 0:
        return []
    max_len = int(round(window_s * SAMPLE_RATE))
    n = max(1, math.ceil(n_samples / max_len - 1e-9))
    size = math.ceil(n_samples / n)
    return [audio[i * size:(i + 1) * size] for i in range(n)]


def max_new_tokens(chunk_s: float) -> int:
    return int(math.ceil(MAX_TOKENS_PER_S * chunk_s)) + MAX_TOKENS_MARGIN


def compression_ratio(text: str) -> float:
    """Bytes of `text` / bytes of its zlib compression (repetitive text compresses well)."""
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


@dataclass
class Attempt:
    """One decoding pass of a window (the first, and each temperature fallback)."""

    temperature: float
    tokens: list[int]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    by_limit: bool
    by_loop: bool
    generated: int
    prompt_tokens: int
    hypothesis_tokens: list[int]   # tokens fed per parallel hypothesis (FLOPs; eos included)
    # whether the prompt pass ran the LM head at the <|startoftranscript|> position too (None:
    # as the window's decoder does without a prefix: `window_gflops`'s no_speech_head)
    no_speech_head: bool | None = None


@dataclass
class Row:
    """One chunk to transcribe."""

    key: str                 # "<item id>#<chunk index>/<chunks>"
    audio: np.ndarray
    frames: int              # window in mel frames
    audio_s: float
    mel: Tensor | None = None
    enc: Tensor | None = None
    tokens: list[int] = field(default_factory=list)
    by_limit: bool = False
    by_loop: bool = False
    generated: int = 0       # tokens the decoder computed (before a repetition loop was cut)
    t: dict[str, float] = field(default_factory=lambda: {"features": 0.0, "encoder": 0.0,
                                                         "decoder": 0.0})
    item_id: str = ""
    seek: int = 0            # window start in mel frames
    timestamps: bool = False
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    prompt_tokens: int = 0   # decoder prompt length used for this window
    previous: list[int] = field(default_factory=list)   # tokens to condition on (no prefix: [])
    # faster-whisper's prompt options, as tokens: hotwords (after <|startofprev|>, before the
    # previous tokens) and the prefix forced as the start of the output (the first window only)
    hotwords: list[int] = field(default_factory=list)
    prefix: list[int] = field(default_factory=list)
    temperature: float = 0.0      # of the last attempt (the prompt-reset rule reads it)
    compression_ratio: float = 0.0
    attempts: list[Attempt] = field(default_factory=list)   # every decoding pass, in order
    # the recording the window was cut from, at `seek` (None: the window's audio is its own
    # recording, at 0), and its log-mel peak (None: computed from it); `features` reads both
    source: np.ndarray | None = field(default=None, repr=False)
    peak: float | None = None
    # word timestamps: the teacher-forced pass run for the window's words (tokens fed, positions
    # through the LM head), None when none ran (FLOPs: `window_gflops`)
    alignment_pass: tuple[int, int] | None = None
    # hallucination_silence_threshold: the seek its rule set (None: it did not fire), and whether
    # it skipped the window's leading silence (nothing of the window kept, the prompt not reset)
    hallucination_seek: int | None = None
    skipped_leading_silence: bool = False

    @property
    def content_frames(self) -> int:
        """Mel frames of real audio in the window."""
        return min(self.frames, -(-len(self.audio) // HOP_LENGTH))

    @property
    def decode_steps(self) -> int:
        """Tokens decoded over all attempts (parallel hypotheses of one attempt count once; eos
        included): what the decoder's run time follows."""
        if not self.attempts:
            return self.generated + (0 if self.by_limit or self.by_loop else 1)
        return sum(max(a.hypothesis_tokens) for a in self.attempts)

    def use(self, a: Attempt) -> None:
        """Make `a` the window's result."""
        self.tokens, self.avg_logprob, self.no_speech_prob = a.tokens, a.avg_logprob, \
            a.no_speech_prob
        self.compression_ratio, self.by_limit, self.by_loop = a.compression_ratio, a.by_limit, \
            a.by_loop
        self.generated, self.prompt_tokens = a.generated, a.prompt_tokens


def window_gflops(config: Config, row: Row, no_speech_head: bool = False) -> float:
    """Analytic GFLOPs of one decoded window: its encoder pass (at its own length) once, and the
    decoder for every attempt (temperature fallback) and every parallel hypothesis (beam, best_of)
    with that attempt's prompt (previous text, hotwords and a forced prefix included) and the
    tokens decoded after it, and the teacher-forced pass of word timestamps when one ran
    (`Row.alignment_pass`)."""
    from speechbudget.flops.estimate import estimate
    cfg = config.with_(window=row.frames / MEL_FRAMES_PER_S, timestamps="auto",
                       longform="sequential", beam_size=1)
    attempts = row.attempts or [Attempt(0.0, row.tokens, 0.0, 0.0, 0.0, row.by_limit, row.by_loop,
                                        row.generated, row.prompt_tokens or 0,
                                        [row.decode_steps] * config.beam_size)]
    encoder, decoder, enc_tokens = None, 0.0, 0
    for a in attempts:
        for n in a.hypothesis_tokens:
            head = no_speech_head if a.no_speech_head is None else a.no_speech_head
            r = estimate(cfg, decoded_tokens=n, prompt_tokens=a.prompt_tokens or None,
                         no_speech_head=head)
            dec = sum(v for k, v in r.breakdown.items() if k.startswith("decoder."))
            if encoder is None:
                encoder, enc_tokens = r.total - dec, r.encoder_tokens
            decoder += dec
    if row.alignment_pass is not None and encoder is not None:
        decoder += wt.alignment_pass_flops(config.arch.dims, enc_tokens, *row.alignment_pass)
    return ((encoder or 0.0) + decoder) / 1e9
