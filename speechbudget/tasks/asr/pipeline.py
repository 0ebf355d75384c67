"""One configuration's ASR pipeline: window -> log-mel -> encoder (window, stride) -> decoder.

Long-form rule "sequential" (`Config.longform`, the default; `transcribe_items`): Whisper's
sequential algorithm, batched across utterances. Each utterance has its own `seek` (mel frames);
every round takes, for each unfinished utterance, the window starting at its seek (a dynamic window
is fitted to what is left, capped at 30 s; a window shorter than 30 s with more audio left than it
holds takes what is left shared evenly among the windows it needs, `span_frames`, so that speech
does not run into its edge; a window starts only where a whole mel frame of audio is left, as in
openai-whisper and faster-whisper, so a few trailing samples are no window of their own), computes
its features (its frames of the recording's log-mel, as both references: `features`; only the
samples they see are read, so memory stays bounded by the batch), encodes and decodes all of them
together, then per utterance:
  - no speech (P(no-speech) at the first step > `no_speech_threshold` and average log-probability
    < `logprob_threshold`): the window is skipped, no text;
  - with timestamps: the complete segments (<|t0|> text <|t1|>) are kept and seek moves to the last
    complete timestamp (to the window's end if the output ends in a single timestamp, or has no
    complete segment); without: the window is one segment and seek moves to its end.
`Config.timestamps` "auto" decodes with timestamps exactly when the audio is longer than the window.

Two options of the pipeline (not of `Config`: they are off in sweeps), both as openai-whisper and
faster-whisper:
  - `condition_on_previous_text`: each window's prompt starts with <|startofprev|> and the last
    223 tokens (timestamp tokens included) of the segments kept so far for that utterance, per row
    of the batch; the history restarts after a window whose temperature was above
    `prompt_reset_on_temperature` (0.5).
  - temperature fallback (`temperatures`, default (0.0,): off): a window whose output is too
    repetitive (zlib compression ratio of its text > `compression_ratio_threshold`, 2.4) or
    improbable (average log-probability < `logprob_threshold`), and is not silence (the no-speech
    rule), is decoded again at the next temperature, by sampling (`best_of` samples, seeded per
    window: `seed`), batched over the windows that need it. If every temperature fails, the
    attempt with the best average log-probability among those under the compression threshold
    (else among all) is kept, as faster-whisper. Every attempt is recorded (`Row.attempts`) and its
    FLOPs counted (`window_gflops`).

Rule "chunks" (the old one, for comparison; `rows_for`): an utterance of `a` seconds under a window of `W`
seconds is cut into n = ceil(a / W) consecutive, non-overlapping chunks of equal length a / n
(so no chunk is a sliver), each zero-padded to the window and decoded on its own (no conditioning
on the previous chunk's text); the chunks' texts are joined with a space. A dynamic window is
`Config.window_s_for(a)` (the utterance plus a margin, capped at 30 s).

Encoder states can be shared through `cache` (any dict-like): features per (item, chunk, frames,
n_mels); the full-resolution hidden state before layer k per (model, window, item, chunk) for a
stride after layer k; the full encoder output for stride 1 or a stride on the output. Each entry
keeps the seconds it took to compute, and a cache hit is charged that time, so timings (and RTF)
always describe the configuration's own cost; the hits are counted in `stats`.
"""
from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from speechbudget.axes import PRECISIONS, Config, ConfigError
from speechbudget.geometry import (HOP_LENGTH, MEL_FRAMES_PER_S, SAMPLE_RATE,
                                   TIMESTAMP_RESOLUTION_S, frames_for)
from speechbudget.models import whisper_encoder as we
from speechbudget.tasks.asr.decode import WhisperDecoderRunner
from speechbudget.tasks.asr.decode_options import DecodeOptions
from speechbudget.tasks.asr import word_timing as wt

MAX_TOKENS_PER_S = 8.0     # stop rule: at most 8 tokens per second of chunk audio (+ margin)
MAX_TOKENS_MARGIN = 16     # ~3 tokens/s is typical read speech; loops are cut long before 448
# CPU threads for the decoding loop (None: torch's setting). A decoding step is ~90 small ops; with
# more than one intra-op thread each op waits at a thread barrier, which on a busy machine costs
# more than it gains: tiny.en, batch 32, 2-core EPYC under load, 0.20 s/utt with 1 thread vs 1.10
# s/utt with 2 (the encoder's large matmuls keep torch's thread count).
DECODE_THREADS: int | None = 1
NO_SPEECH_THRESHOLD = 0.6  # openai-whisper / faster-whisper defaults
# A window whose samples all stay below this (digital silence, < -100 dBFS) is not decoded: no
# text can come of it, and with beam 5 tiny.en says "You" there (P(no-speech) 0.94, average
# log-probability -0.93, above the -1.0 threshold; faster-whisper's default decoding does so)
DIGITAL_SILENCE = 1e-5
LOGPROB_THRESHOLD = -1.0


def chunk_audio(audio: np.ndarray, window_s: float) -> list[np.ndarray]:
    """Consecutive equal-length chunks of at most `window_s` seconds (see the module docstring);
    none for an empty recording."""
    n_samples = len(audio)
    if n_samples == 0:
        return []
    max_len = int(round(window_s * SAMPLE_RATE))
    n = max(1, math.ceil(n_samples / max_len - 1e-9))
    size = math.ceil(n_samples / n)
    return [audio[i * size:(i + 1) * size] for i in range(n)]


COMPRESSION_RATIO_THRESHOLD = 2.4      # openai-whisper / faster-whisper defaults
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
PROMPT_RESET_ON_TEMPERATURE = 0.5


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
    with that attempt's prompt (a previous-text prefix included) and tokens, and the
    teacher-forced pass of word timestamps when one ran (`Row.alignment_pass`)."""
    from speechbudget.flops.estimate import estimate
    cfg = config.with_(window=row.frames / MEL_FRAMES_PER_S, timestamps="auto",
                       longform="sequential", beam_size=1)
    attempts = row.attempts or [Attempt(0.0, row.tokens, 0.0, 0.0, 0.0, row.by_limit, row.by_loop,
                                        row.generated, row.prompt_tokens or 0,
                                        [row.decode_steps] * config.beam_size)]
    encoder, decoder, enc_tokens = None, 0.0, 0
    for a in attempts:
        for n in a.hypothesis_tokens:
            r = estimate(cfg, decoded_tokens=n, prompt_tokens=a.prompt_tokens or None,
                         no_speech_head=no_speech_head)
            dec = sum(v for k, v in r.breakdown.items() if k.startswith("decoder."))
            if encoder is None:
                encoder, enc_tokens = r.total - dec, r.encoder_tokens
            decoder += dec
    if row.alignment_pass is not None and encoder is not None:
        decoder += wt.alignment_pass_flops(config.arch.dims, enc_tokens, *row.alignment_pass)
    return ((encoder or 0.0) + decoder) / 1e9


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


def cast_for_precision(model: torch.nn.Module, precision: str, device: str) -> torch.nn.Module:
    """fp32 as is; bf16: weights in bfloat16; int8-dynamic: the decoder's nn.Linear layers and the
    LM head quantised to int8 (`int8_decoder`; CPU only); fp16: weights in float16 (CUDA only:
    CPU fp16 matmuls are emulated). Returns a model (a copy if changed)."""
    check_precision(precision, device)
    if precision == "fp32":
        return model
    if precision == "int8-dynamic":
        return int8_decoder(model)
    import copy
    return copy.deepcopy(model).to(torch.float16 if precision == "fp16" else torch.bfloat16)


def check_precision(precision: str, device: str) -> None:
    """ValueError unless `precision` runs on `device`: fp16 on a CUDA GPU only, int8-dynamic on
    the CPU only (callers check before loading any weights)."""
    kind = torch.device(device).type
    if precision == "fp16" and kind != "cuda":
        raise ValueError(f"precision='fp16' runs on a CUDA GPU only (device={device!r}); "
                         "on the CPU use fp32 or int8-dynamic")
    if precision == "int8-dynamic" and kind != "cpu":
        raise ValueError(f"precision='int8-dynamic' runs on the CPU only (device={device!r}); "
                         "use bf16 on a GPU")
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: expected one of {', '.join(PRECISIONS)}")


def int8_decoder(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of a Whisper whose decoder nn.Linear layers and LM head (`proj_out`) are int8:
    torch's dynamic quantisation (fbgemm) with per-output-channel weight scales; the activations
    are quantised at run time with one scale per matrix. The encoder stays fp32: its matrices hold
    batch x 1500 rows, and one scale for all of them costs the rows without outliers their
    precision (tiny.en, 220 shared utterances, WER vs fp32: every Linear per-tensor +0.56 points,
    per-channel +0.58, the encoder alone +0.35, the decoder + head -0.08, at 0.89 of fp32's time;
    benchmarks/int8_variants.py). A decoder step's matrices hold one row per hypothesis, where
    that one scale is nearly a per-row one, and its weights (the 51864-row LM head above all) are
    what a step reads."""
    import copy
    import warnings

    m = copy.deepcopy(model).float()
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
        spec = {name: per_channel_dynamic_qconfig for name, mod in m.named_modules()
                if type(mod) is torch.nn.Linear and not name.startswith("model.encoder.")}
        return quantize_dynamic(m, spec, dtype=torch.qint8)


def check_fallback(temperature: float | Sequence[float], best_of: Any) -> tuple[float, ...]:
    """The temperature fallback's options checked (the one place they are): `temperature` one
    number >= 0 or an increasing sequence of them, `best_of` an integer >= 1. Returns the
    temperatures as a tuple of floats; raises ConfigError naming the field."""
    try:
        temps = (temperature,) if isinstance(temperature, (int, float)) else tuple(temperature)
    except TypeError:  # not iterable: a numpy float32 scalar, None, an object
        temps = (temperature,)
    if not temps or any(isinstance(t, bool) or not isinstance(t, (int, float))
                        or not math.isfinite(t) or t < 0 for t in temps) \
            or list(temps) != sorted(temps):
        raise ConfigError("temperature", temperature,
                          "a number >= 0 or an increasing sequence of them")
    if isinstance(best_of, bool) or not isinstance(best_of, int) or best_of < 1:
        raise ConfigError("best_of", best_of, "an integer >= 1")
    return tuple(float(t) for t in temps)


def check_mel_padding(mel_padding: Any) -> None:
    """ConfigError("mel_padding") unless it names a padding of `audio.MEL_PADDINGS`: "zeros" in
    the normalised log-mel (faster-whisper's and openai-whisper's transcribe) or "silence" (the
    recording's floor, as a zero-padded waveform; docs/asr.md: for a stride on the encoder
    output)."""
    from speechbudget.audio import MEL_PADDINGS
    if mel_padding not in MEL_PADDINGS:
        raise ConfigError("mel_padding", mel_padding, ", ".join(MEL_PADDINGS))


class AsrPipeline:
    """Runs one configuration on a loaded `WhisperBundle` (see models.loading)."""

    def __init__(self, bundle: Any, config: Config, device: str = "cpu", model: Any = None,
                 tag: str | None = None, decode_threads: int | None = DECODE_THREADS, *,
                 condition_on_previous_text: bool = False,
                 temperatures: Sequence[float] = (0.0,),
                 compression_ratio_threshold: float | None = COMPRESSION_RATIO_THRESHOLD,
                 best_of: int = 5, seed: int = 0,
                 prompt_reset_on_temperature: float = PROMPT_RESET_ON_TEMPERATURE,
                 word_timestamps: bool = False,
                 prepend_punctuations: str = wt.PREPEND_PUNCTUATIONS,
                 append_punctuations: str = wt.APPEND_PUNCTUATIONS,
                 mel_padding: str = "zeros"):
        check_mel_padding(mel_padding)
        self.mel_padding = mel_padding
        temps = check_fallback(temperatures, best_of)
        self.word_timestamps = bool(word_timestamps)
        self.punctuations = (prepend_punctuations, append_punctuations)
        self.condition_on_previous_text = bool(condition_on_previous_text)
        self.temperatures = temps
        self.compression_ratio_threshold = compression_ratio_threshold
        self.best_of, self.seed = best_of, int(seed)
        self.prompt_reset_on_temperature = float(prompt_reset_on_temperature)
        self.bundle = bundle
        self.decode_threads = decode_threads
        self.config = config
        self.device = torch.device(device)
        self.model = model if model is not None else bundle.model
        self.dtype = next(self.model.model.encoder.parameters()).dtype
        if self.dtype not in (torch.float32, torch.bfloat16, torch.float16):
            self.dtype = torch.float32
        self.encoder = self.model.model.encoder
        self.n_layers = len(self.encoder.layers)
        self.options = DecodeOptions.from_bundle(bundle, beam_size=config.beam_size)
        self.decoder = WhisperDecoderRunner(self.model, self.options)
        self._decoders = {False: self.decoder}
        self.no_speech_threshold: float | None = NO_SPEECH_THRESHOLD
        self.logprob_threshold: float | None = LOGPROB_THRESHOLD
        self.tag = tag or f"{config.model}|{config.precision}|{config.adaptation.label}|" \
                          f"{getattr(bundle, 'source', '')}"
        self.stats = {"feature_hits": 0, "encoder_hits": 0, "partial_encoder_hits": 0}

    # ---- rows ---------------------------------------------------------------------------
    def rows_for(self, item_id: str, audio: np.ndarray) -> list[Row]:
        audio_s = len(audio) / SAMPLE_RATE
        window_s = self.config.window_s_for(audio_s)
        frames = int(round(window_s * MEL_FRAMES_PER_S))
        chunks = chunk_audio(audio, window_s)
        return [Row(f"{item_id}#{i}/{len(chunks)}", c, frames, len(c) / SAMPLE_RATE,
                    item_id=item_id, timestamps=self.config.timestamps == "on")
                for i, c in enumerate(chunks)]

    # ---- features -------------------------------------------------------------------------
    def features(self, rows: Sequence[Row], cache: Any | None = None) -> None:
        """Each row's log-mel as openai-whisper's and faster-whisper's `transcribe` cut it out of
        its recording's log-mel (`audio.log_mel_span`: floored at the recording's peak - 8,
        zero-padded in the log-mel to the window; `mel_padding="silence"`: padded with the
        recording's floor instead, as a zero-padded waveform gives)."""
        from speechbudget.audio import log_mel_peak, log_mel_span
        n_mels = self.bundle.n_mels
        for r in rows:
            key = ("mel", r.key, r.frames, n_mels, self.mel_padding)
            hit = cache.get(key) if cache is not None else None
            if hit is not None:
                r.mel, r.t["features"] = hit[0], hit[1]
                self.stats["feature_hits"] += 1
                continue
            t0 = time.perf_counter()
            src, start = (r.audio, 0) if r.source is None else (r.source, r.seek)
            if r.peak is None:
                r.peak = log_mel_peak(src, n_mels, self.device)
            r.mel = log_mel_span(src, start, r.content_frames, r.frames, n_mels, r.peak,
                                 self.device, padding=self.mel_padding)
            r.t["features"] = time.perf_counter() - t0
            if cache is not None:
                cache[key] = (r.mel, r.t["features"])

    # ---- encoder ---------------------------------------------------------------------------
    def encode(self, rows: Sequence[Row], batch_size: int, cache: Any | None = None) -> None:
        """Encoder states for every row (grouped by window, in batches of `batch_size`)."""
        groups: dict[int, list[Row]] = {}
        for r in rows:
            groups.setdefault(r.frames, []).append(r)
        for group in groups.values():
            for i in range(0, len(group), batch_size):
                batch = group[i:i + batch_size]
                if cache is None or self.config.pool == "attn":  # attn: no shared states
                    self._encode_plain(batch)
                else:
                    self._encode_cached(batch, cache)

    @torch.inference_mode()
    def _encode_plain(self, batch: Sequence[Row]) -> None:
        c = self.config
        t0 = time.perf_counter()
        mel = torch.stack([r.mel for r in batch]).to(self.device, self.dtype)
        h, _ = we.encode(self.encoder, mel, c.stride, c.stride_at, c.pool)
        _sync(self.device)
        dt = (time.perf_counter() - t0) / len(batch)
        for i, r in enumerate(batch):
            r.enc, r.t["encoder"] = h[i], dt

    @torch.inference_mode()
    def _encode_cached(self, batch: Sequence[Row], cache: Any) -> None:
        """As `_encode_plain`, reusing the deepest cached full-resolution state of each row."""
        c, L = self.config, self.n_layers
        k = L + 1 if (c.stride == 1 or c.stride_at == "output") else int(c.stride_at)
        # stage s in 0..L: hidden state before layer s (L: after the last layer, before the norm);
        # stage L + 1: the normalised output.
        start, states, spent = [], [], []
        for r in batch:
            found = None
            for s in range(k, -1, -1):
                found = cache.get(("enc", self.tag, self.mel_padding, r.key, r.frames, s))
                if found is not None:
                    start.append(s)
                    states.append(found[0])
                    spent.append(found[1])
                    self.stats["encoder_hits" if s == k else "partial_encoder_hits"] += 1
                    break
            if found is None:
                start.append(-1)
                states.append(None)
                spent.append(0.0)
        for s0 in sorted(set(start)):
            sub = [i for i, s in enumerate(start) if s == s0]
            t0 = time.perf_counter()
            if s0 == -1:
                mel = torch.stack([batch[i].mel for i in sub]).to(self.device, self.dtype)
                h, s = we.embed(self.encoder, mel), 0
            else:
                h, s = torch.stack([states[i] for i in sub]), s0
            if s < k:
                h = we.run_layers(self.encoder, h, s, min(k, L))
                if k == L + 1:
                    h = self.encoder.layer_norm(h)
            _sync(self.device)
            dt = (time.perf_counter() - t0) / len(sub)
            for j, i in enumerate(sub):
                spent[i] += dt
                states[i] = h[j]
                if s0 != k:
                    key = ("enc", self.tag, self.mel_padding, batch[i].key, batch[i].frames, k)
                    cache[key] = (h[j].clone(), spent[i])
        # the rest: stride, remaining layers, norm (not shared between configurations)
        t0 = time.perf_counter()
        h = torch.stack(states)
        h = we.subsample_tokens(h, c.stride, c.pool)
        if k <= L:
            h = we.run_layers(self.encoder, h, k, L)
            h = self.encoder.layer_norm(h)
        _sync(self.device)
        dt = (time.perf_counter() - t0) / len(batch)
        for i, r in enumerate(batch):
            r.enc, r.t["encoder"] = h[i], spent[i] + dt

    # ---- decoder ---------------------------------------------------------------------------
    def decode(self, rows: Sequence[Row], batch_size: int) -> None:
        """Decode every row at the first temperature; the rows that fail (`needs_fallback`)
        again at the next one, batched, until none fails or the temperatures run out."""
        order = sorted(rows, key=lambda r: -r.audio_s)
        threads = torch.get_num_threads()
        if self.decode_threads is not None and self.device.type == "cpu":
            torch.set_num_threads(min(threads, self.decode_threads))
        try:
            for r in order:
                r.attempts = []
                r.t["decoder"] = 0.0
            todo = list(order)
            for t in self.temperatures:
                self._decode(todo, batch_size, t)
                todo = [r for r in todo if self.needs_fallback(r.attempts[-1])]
                if not todo:
                    break
            for r in todo:  # every temperature failed: faster-whisper's choice
                ok = [a for a in r.attempts if self.compression_ratio_threshold is None
                      or a.compression_ratio <= self.compression_ratio_threshold]
                r.use(max(ok or r.attempts, key=lambda a: a.avg_logprob))
        finally:
            torch.set_num_threads(threads)

    def needs_fallback(self, a: Attempt) -> bool:
        """Whether a window's attempt fails (too repetitive or improbable) and is not silence."""
        if len(self.temperatures) == 1:
            return False
        lp = self.logprob_threshold
        bad = (self.compression_ratio_threshold is not None
               and a.compression_ratio > self.compression_ratio_threshold) or \
            (lp is not None and a.avg_logprob < lp)
        silence = self.no_speech_threshold is not None and \
            a.no_speech_prob > self.no_speech_threshold and \
            ((lp is not None and a.avg_logprob < lp) or self.wordless(a.tokens))
        return bad and not silence

    def decoder_for(self, timestamps: bool) -> WhisperDecoderRunner:
        if timestamps not in self._decoders:
            opt = DecodeOptions.from_bundle(self.bundle, beam_size=self.config.beam_size,
                                            timestamps=True)
            self._decoders[True] = WhisperDecoderRunner(self.model, opt)
        return self._decoders[timestamps]

    def _decode(self, order: Sequence[Row], batch_size: int, temperature: float = 0.0) -> None:
        for ts in (False, True):
            group = [r for r in order if r.timestamps == ts]
            dec = self.decoder_for(ts) if group else None
            for i in range(0, len(group), batch_size):
                self._decode_batch(dec, group[i:i + batch_size], temperature)

    def _decode_batch(self, dec: WhisperDecoderRunner, batch: Sequence[Row],
                      temperature: float = 0.0) -> None:
        lengths = [r.enc.shape[0] for r in batch]
        T = max(lengths)
        t0 = time.perf_counter()
        enc = torch.stack([torch.nn.functional.pad(r.enc, (0, 0, 0, T - r.enc.shape[0]))
                           for r in batch])
        previous = [r.previous for r in batch] if any(r.previous for r in batch) else None
        seeds = [zlib.crc32(f"{self.seed}|{r.key}|{temperature}".encode()) for r in batch] \
            if temperature > 0 else None
        res = dec.decode(enc, lengths, [max_new_tokens(r.audio_s) for r in batch],
                         previous=previous, temperature=temperature,
                         best_of=self.best_of, seeds=seeds)
        _sync(self.device)
        dt = (time.perf_counter() - t0) / len(batch)
        eos = self.options.eos_id
        for j, r in enumerate(batch):
            toks = res.tokens[j]
            a = Attempt(temperature, toks, res.avg_logprob[j], res.no_speech_prob[j],
                        compression_ratio(self.text([t for t in toks if t < eos])),
                        res.stopped_by_limit[j], res.stopped_by_loop[j], res.generated[j],
                        res.prompt_tokens[j], res.hypothesis_tokens[j])
            r.attempts.append(a)
            r.use(a)
            r.temperature = temperature
            r.t["decoder"] = r.t.get("decoder", 0.0) + dt

    # ---- long-form ---------------------------------------------------------------------------
    def is_silence(self, r: Row) -> bool:
        """The no-speech rule (`silent`) on one decoded window."""
        return self.silent(r.no_speech_prob, r.avg_logprob, r.tokens)

    def silent(self, no_speech_prob: float, avg_logprob: float, tokens: Sequence[int]) -> bool:
        """openai-whisper's no-speech rule: P(no-speech) above `no_speech_threshold` and the
        average log-probability not above `logprob_threshold` (at it: silence, as both). One
        addition: with P(no-speech) above the threshold, a window whose text holds no letter or
        digit (only punctuation, e.g. ". . ." on low noise, confidently) is silence too: the
        log-probability clause keeps confident *speech*, and there is none."""
        if self.no_speech_threshold is None or no_speech_prob <= self.no_speech_threshold:
            return False
        if self.logprob_threshold is None or not avg_logprob > self.logprob_threshold:
            return True
        return self.wordless(tokens)

    def wordless(self, tokens: Sequence[int]) -> bool:
        """Whether the text of `tokens` holds no letter or digit."""
        eos = self.options.eos_id
        return not any(ch.isalnum() for ch in self.text([t for t in tokens if t < eos]))

    def transcribe_items(self, items: Sequence[tuple[str, np.ndarray]], batch_size: int,
                         cache: Any | None = None) -> dict[str, Transcript]:
        """Each (id, audio) through the configuration's long-form rule (module docstring)."""
        out = {i: Transcript(i) for i, _ in items}
        if self.config.longform == "chunks":
            rows = [r for i, a in items for r in self.rows_for(i, a)]
            self.run(rows, batch_size, cache)
            for i, a in items:
                mine = [r for r in rows if r.item_id == i]
                off = 0.0
                for r in mine:
                    r.seek = int(round(off * MEL_FRAMES_PER_S))   # where the chunk starts
                    self._keep(out[i], r, [r.tokens] if not self.is_silence(r) else [], off,
                               off + r.audio_s)
                    off += r.audio_s
            return out
        seek = {i: 0 for i, _ in items}
        total = {i: max(1, -(-len(a) // HOP_LENGTH)) for i, a in items}   # frames holding audio
        # a window starts only where a whole mel frame is left (openai-whisper / faster-whisper:
        # floor(samples / 160) content frames); a partial last frame goes with the window before,
        # and a recording shorter than one frame (10 ms) has no window at all, as in both
        last = {i: len(a) // HOP_LENGTH for i, a in items}
        audio = dict(items)
        ts = {i: self.config.timestamps_for(len(a) / SAMPLE_RATE) for i, a in items}
        history: dict[str, list[int]] = {i: [] for i, _ in items}   # tokens of kept segments
        peak: dict[str, float | None] = {i: None for i, _ in items}  # log-mel peak, once each
        since = {i: 0 for i, _ in items}                             # conditioning starts here
        while True:
            rows = []
            for i, _ in items:
                while seek[i] < last[i]:
                    left = total[i] - seek[i]
                    frames = frames_for(self.config.window_s_for(left / MEL_FRAMES_PER_S))
                    span = self.span_frames(frames, last[i] - seek[i])
                    if seek[i] + span >= last[i]:
                        span = min(frames, left)
                    a = audio[i][seek[i] * HOP_LENGTH:(seek[i] + span) * HOP_LENGTH]
                    if a.size and float(np.abs(a).max()) >= DIGITAL_SILENCE:
                        rows.append(Row(f"{i}@{seek[i]}", a, frames, len(a) / SAMPLE_RATE,
                                        item_id=i, seek=seek[i], timestamps=ts[i],
                                        previous=history[i][since[i]:]
                                        if self.condition_on_previous_text else [],
                                        source=audio[i], peak=peak[i]))
                        break
                    out[i].silent_windows += 1
                    out[i].no_speech_windows += 1
                    seek[i] += span   # past the audio it held (a shared window holds less)
            if not rows:
                return out
            self.run(rows, batch_size, cache)
            for r in rows:
                peak[r.item_id] = r.peak
                tr = out[r.item_id]
                n0 = len(tr.segments)
                seek[r.item_id] = self._advance(tr, r)
                if self.is_silence(r):
                    continue
                for sg in tr.segments[n0:]:
                    history[r.item_id].extend(sg.tokens)
                if r.temperature > self.prompt_reset_on_temperature:
                    since[r.item_id] = len(history[r.item_id])

    def span_frames(self, frames: int, left: int) -> int:
        """Mel frames of audio a window of `frames` takes when `left` frames are left: all of
        them when they fit; else, for a window shorter than the model's native one (30 s), what is
        left shared evenly among the windows it needs (ceil(left / ceil(left / frames))), so that
        speech does not run into the edge of a window the model never saw speech cut at (the
        stock model then invents text there; benchmarks/asr_shortform_timestamps.py measures the
        10 s window); a native window takes a whole window, as openai-whisper."""
        native = self.config.arch.max_window_s
        if left <= frames or native is None or frames >= frames_for(native):
            return min(frames, left)
        return -(-left // -(-left // frames))

    def _advance(self, tr: Transcript, r: Row) -> int:
        """Keep the window's segments; the next seek."""
        content = r.content_frames
        end = r.seek + content
        t0 = r.seek / MEL_FRAMES_PER_S
        # where the window's audio ends (exact, not rounded up to a mel frame): no segment ends
        # later (a timestamp token can point past it, into the padding, or past the recording),
        # so segments stay within the audio and never overlap the next window's
        stop = t0 + len(r.audio) / SAMPLE_RATE
        if self.is_silence(r):
            self._keep(tr, r, [], t0, t0)
            return end
        if not r.timestamps:
            return self._word_seek(r, self._keep(tr, r, [r.tokens], t0, stop), False, end)
        tb = self.decoder_for(True).opt.timestamp_begin
        toks = r.tokens
        is_ts = [t >= tb for t in toks]
        single_end = len(toks) >= 2 and is_ts[-2:] == [False, True]
        cuts = [k for k in range(1, len(toks)) if is_ts[k - 1] and is_ts[k]]
        step = TIMESTAMP_RESOLUTION_S
        if cuts:
            if single_end:
                cuts.append(len(toks))
            last = 0
            pieces = []
            for c in cuts:
                pieces.append(toks[last:c])
                last = c
            segs = [(min(t0 + (p[0] - tb) * step, stop), min(t0 + (p[-1] - tb) * step, stop), p)
                    for p in pieces]
            words_end = self._keep_segments(tr, r, segs)
            if single_end:
                return end
            if words_end is not None:
                return self._word_seek(r, words_end, False, end)
            # 2 mel frames per timestamp step; never past the window's audio (a timestamp can
            # point beyond it: the model's timestamps run to 30 s in any window, as in both
            # references, which would then skip audio no window has seen)
            nxt = min(r.seek + (toks[last - 1] - tb) * 2, end)
            return nxt if nxt > r.seek else end
        stamps = [t for t in toks if t >= tb]
        dur = content / MEL_FRAMES_PER_S
        if stamps and stamps[-1] != tb:
            dur = (stamps[-1] - tb) * step
        words_end = self._keep_segments(tr, r, [(t0, min(t0 + dur, stop), toks)])
        return self._word_seek(r, words_end, single_end, end)

    def _word_seek(self, r: Row, words_end: float | None, single_end: bool, end: int) -> int:
        """The next seek with word timestamps, as openai-whisper and faster-whisper: unless the
        window's output ends in a single timestamp, the end of its last word (of its last segment
        when it has none) when that is past the window's start; never past the window's audio.
        Else (and without word timestamps: `words_end` None) `end`."""
        if words_end is None or single_end or not words_end > r.seek / MEL_FRAMES_PER_S:
            return end
        return min(round(words_end * MEL_FRAMES_PER_S), end)

    def _keep(self, tr: Transcript, r: Row, pieces: list[list[int]], start: float,
              end: float) -> float | None:
        return self._keep_segments(tr, r, [(start, end, p) for p in pieces])

    def _keep_segments(self, tr: Transcript, r: Row, segs) -> float | None:
        """Add window `r` and its segments to the transcript; with word timestamps, their words
        first (`_words`: the segments' times move to their words'), returning where the words
        end (`word_timing.last_end`; None without word timestamps or segments). The window's
        log-mel and encoder states are dropped here (its tokens, timings and attempts stay): a
        long recording then holds the features of one round's windows, not of every window it
        has had."""
        words: list[list[wt.Word] | None] = [None] * len(segs)
        words_end = None
        if self.word_timestamps and segs:
            done = self._words(tr, r, segs)
            segs = [(d.start, d.end, toks) for d, (_, _, toks) in zip(done, segs)]
            words = [d.words for d in done]
            words_end = wt.last_end(done)
            if words_end is not None:
                tr.last_speech_s = words_end
        r.mel = r.enc = None
        tr.windows.append(r)
        if not segs:
            tr.no_speech_windows += 1
        eos = self.options.eos_id
        for (start, end, toks), ws in zip(segs, words):
            text = self.text([t for t in toks if t < eos])
            # an instantaneous segment (start = end, e.g. both times capped at the end of the
            # audio) is dropped with its text, as openai-whisper's transcribe clears it
            if text and round(end, 3) > round(start, 3):
                tr.segments.append(Segment(round(start, 3), round(end, 3), text, list(toks),
                                           r.avg_logprob, r.no_speech_prob,
                                           id=len(tr.segments), seek=r.seek,
                                           compression_ratio=r.compression_ratio,
                                           temperature=r.temperature, words=ws))
        return words_end

    def _words(self, tr: Transcript, r: Row, segs) -> list[wt.SegmentWords]:
        """The words of window `r`'s segments (start, end, tokens): the teacher-forced pass over
        their text tokens (`WhisperDecoderRunner.teacher_forced`: the alignment heads'
        cross-attention and the tokens' probabilities), then `word_timing.window_words`. A
        window whose pass would not fit the decoder's positions gets no words."""
        opt = self.options
        eos = opt.eos_id
        text = [int(t) for _, _, toks in segs for t in toks if t < eos]
        prompt = list(opt.prompt_ids)
        sot = prompt[:-1] if opt.no_timestamps_id is not None and prompt[-1] == \
            opt.no_timestamps_id else prompt
        seq = sot + [opt.no_timestamps_id] + text + [eos]
        t0 = r.seek / MEL_FRAMES_PER_S
        qk, probs, frames, per_s = np.zeros((0, 0, 0), np.float32), [], 0, 1.0
        if text and r.enc is not None and len(seq) <= opt.max_target_positions:
            T = int(r.enc.shape[0])
            frames = min(T, r.content_frames * T // r.frames)   # holding audio (CT2: n // 2)
            per_s = T / (r.frames / MEL_FRAMES_PER_S)          # encoder frames per second
            heads = wt.heads_of(self.model)
            w, p = self.decoder.teacher_forced(r.enc[None], [seq], heads, prob_from=len(sot))
            qk, probs = w[0].cpu().numpy(), p[0][:len(text)]
            r.alignment_pass = (len(seq), len(seq) - 1 - len(sot))
        elif text:
            segs = [(s, e, [t for t in toks if t >= eos]) for s, e, toks in segs]
        done, _ = wt.window_words(segs, eos, qk, len(sot), frames, probs,
                                  self._decode_with_specials, per_s, t0, tr.last_speech_s,
                                  *self.punctuations)
        return done

    def _decode_with_specials(self, tokens: list[int]) -> str:
        return self.bundle.tokenizer.decode(list(tokens), skip_special_tokens=False)

    def run(self, rows: Sequence[Row], batch_size: int, cache: Any | None = None) -> None:
        self.features(rows, cache)
        self.encode(rows, batch_size, cache)
        self.decode(rows, batch_size)

    def text(self, tokens: Sequence[int]) -> str:
        return self.bundle.tokenizer.decode(list(tokens), skip_special_tokens=True).strip()

    def warm_up(self) -> None:
        """One short untimed pass so that first-call costs (allocations, kernels) are not timed."""
        rows = self.rows_for("warmup", np.zeros(SAMPLE_RATE, dtype=np.float32))
        self.features(rows)
        self.encode(rows, 1)
        order = rows[:1]
        enc = order[0].enc[None]
        self.decoder.decode(enc, [enc.shape[1]], [4])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
