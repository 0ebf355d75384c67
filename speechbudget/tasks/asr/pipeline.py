"""One configuration's ASR pipeline: window -> log-mel -> encoder (window, stride) -> decoder.

Long-form rules ("sequential", "chunks"; `transcribe_items`): `longform`, whose `LongformSeek`
is the pipeline's base class.

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
  - faster-whisper's prompt options (`initial_prompt`, `prefix`, `hotwords`: text, encoded as
    " " + text.strip()): the initial prompt's tokens are the history before the first window
    (so they prompt it, and every window while conditioning goes on); the prefix is forced as the
    start of the first window's output (seek 0; in "chunks", the first chunk's) and is part of
    its text; hotwords go after <|startofprev|> in every window without a prefix. Caps and
    layout: `decode_options.DecodeOptions.prompt_rows`.
  - `language` (a code; None: the bundle's prompt, <|en|>) and `task` ("transcribe",
    "translate"): the decoder prompt's tokens after <|startoftranscript|>
    (`language.task_prompt`); detection is `language.detect_languages`, run before the pipeline
    by `transcribe.transcribe_bundle` on each recording's `first_window`.
  - faster-whisper's long-form options (the sequential rule only; `longform`): `clip_timestamps`
    (decode only inside the clips "start,end,..." in seconds: `LongformSeek.seek_clips`) and
    `hallucination_silence_threshold` (with word timestamps: skip the silence around a likely
    hallucination: `LongformSeek._hallucination_cut`; without them it does nothing, as
    faster-whisper).

Encoder states can be shared through `cache` (any dict-like): features per (item, chunk, frames,
n_mels); the full-resolution hidden state before layer k per (model, window, item, chunk) for a
stride after layer k; the full encoder output for stride 1 or a stride on the output. Each entry
keeps the seconds it took to compute, and a cache hit is charged that time, so timings (and RTF)
always describe the configuration's own cost; the hits are counted in `stats`.
"""
from __future__ import annotations

import time
import zlib
from typing import Any, Sequence

import numpy as np
import torch

from speechbudget.axes import Config
from speechbudget.geometry import MEL_FRAMES_PER_S, SAMPLE_RATE
from speechbudget.models import whisper_encoder as we
from speechbudget.tasks.asr import word_timing as wt
from speechbudget.tasks.asr.decode import WhisperDecoderRunner
from speechbudget.tasks.asr.decode_options import DecodeOptions
from speechbudget.tasks.asr.longform import LongformSeek
from speechbudget.tasks.asr.options import (COMPRESSION_RATIO_THRESHOLD, DECODE_THREADS,
                                            LOGPROB_THRESHOLD, NO_SPEECH_THRESHOLD,
                                            PROMPT_RESET_ON_TEMPERATURE,
                                            check_clip_timestamps, check_fallback,
                                            check_hallucination_silence_threshold,
                                            check_mel_padding, check_prompt_text)
from speechbudget.tasks.asr.windows import (Attempt, Row, chunk_audio, compression_ratio,
                                            max_new_tokens)


class AsrPipeline(LongformSeek):
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
                 mel_padding: str = "zeros", initial_prompt: str | None = None,
                 prefix: str | None = None, hotwords: str | None = None,
                 clip_timestamps: str | Sequence[float] | None = None,
                 hallucination_silence_threshold: float | None = None,
                 language: str | None = None, task: str = "transcribe"):
        check_mel_padding(mel_padding)
        self.clip_timestamps = check_clip_timestamps(clip_timestamps)
        self.hallucination_silence_threshold = check_hallucination_silence_threshold(
            hallucination_silence_threshold)
        for name, value, on in (
                ("clip_timestamps", clip_timestamps, self.clip_timestamps is not None),
                ("hallucination_silence_threshold", hallucination_silence_threshold,
                 self.hallucination_silence_threshold is not None)):
            if on and config.longform != "sequential":  # rules of the seek loop only
                from speechbudget.axes import ConfigError
                raise ConfigError(name, value, "None with longform='chunks' (a rule of the "
                                               "sequential seek loop: longform='sequential')")
        if self.hallucination_silence_threshold is not None and not word_timestamps:
            import warnings  # faster-whisper ignores it then, silently
            warnings.warn("hallucination_silence_threshold does nothing without word_timestamps "
                          "(its rule reads the words' times and probabilities)", stacklevel=3)
        self.mel_padding = mel_padding
        self.prompt_text = {"initial_prompt": check_prompt_text("initial_prompt", initial_prompt),
                            "prefix": check_prompt_text("prefix", prefix),
                            "hotwords": check_prompt_text("hotwords", hotwords)}
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
        # the decoder prompt's language and task (None: the bundle's, <|en|><|transcribe|>)
        self.language, self.task = language, task
        self.options = DecodeOptions.from_bundle(bundle, beam_size=config.beam_size,
                                                 language=language, task=task)
        self.decoder = WhisperDecoderRunner(self.model, self.options)
        self._decoders = {False: self.decoder}
        self.no_speech_threshold: float | None = NO_SPEECH_THRESHOLD
        self.logprob_threshold: float | None = LOGPROB_THRESHOLD
        self.tag = tag or f"{config.model}|{config.precision}|{config.adaptation.label}|" \
                          f"{getattr(bundle, 'source', '')}"
        self.stats = {"feature_hits": 0, "encoder_hits": 0, "partial_encoder_hits": 0}
        p = self.prompt_text
        # as faster-whisper: an initial prompt counts when given (even ""), a prefix and hotwords
        # when not empty
        self.initial_tokens = [] if p["initial_prompt"] is None else \
            self.encode_prompt("initial_prompt", p["initial_prompt"])
        self.prefix_tokens = self.encode_prompt("prefix", p["prefix"]) if p["prefix"] else []
        self.hotword_tokens = self.encode_prompt("hotwords", p["hotwords"]) \
            if p["hotwords"] else []

    def encode_prompt(self, name: str, text: str) -> list[int]:
        """The tokens of a prompt option's text as faster-whisper encodes it (" " + text.strip(),
        no special tokens added); ConfigError naming the option when the text spells one of
        Whisper's special tokens (<|endoftext|>, a timestamp, ...), which is not text."""
        from speechbudget.axes import ConfigError
        # verbose=False: the whole text is encoded before the cut to 223 tokens (as
        # faster-whisper), so a text longer than the model's 1024 positions is expected here and
        # transformers' warning that it 'will result in indexing errors' is not true of it
        ids = [int(t) for t in self.bundle.tokenizer.encode(" " + text.strip(),
                                                            add_special_tokens=False,
                                                            verbose=False)]
        special = [t for t in ids if t >= self.options.eos_id]
        if special:
            raise ConfigError(name, text, "text without Whisper's special tokens (it holds "
                                          f"{self._special_name(special[0])}, not text)")
        return ids

    def _special_name(self, token: int) -> str:
        try:
            return repr(self.bundle.tokenizer.decode([token], skip_special_tokens=False))
        except Exception:  # a tokenizer without the id
            return f"id {token}"

    def window_prompt(self, first: bool) -> dict[str, list[int]]:
        """A window's prompt options (`Row` fields): the prefix on the first window only, hotwords
        on every window without a prefix."""
        prefix = list(self.prefix_tokens) if first else []
        return {"prefix": prefix, "hotwords": [] if prefix else list(self.hotword_tokens)}

    # ---- rows ---------------------------------------------------------------------------
    def rows_for(self, item_id: str, audio: np.ndarray) -> list[Row]:
        audio_s = len(audio) / SAMPLE_RATE
        window_s = self.config.window_s_for(audio_s)
        frames = int(round(window_s * MEL_FRAMES_PER_S))
        chunks = chunk_audio(audio, window_s)
        return [Row(f"{item_id}#{i}/{len(chunks)}", c, frames, len(c) / SAMPLE_RATE,
                    item_id=item_id, timestamps=self.config.timestamps == "on",
                    previous=list(self.initial_tokens) if i == 0 else [],
                    **self.window_prompt(i == 0))
                for i, c in enumerate(chunks)]

    # ---- features -------------------------------------------------------------------------
    def features(self, rows: Sequence[Row], cache: Any | None = None) -> None:
        """Each row's log-mel as openai-whisper's and faster-whisper's `transcribe` cut it out of
        its recording's log-mel (`log_mel.log_mel_span`: floored at the recording's peak - 8,
        zero-padded in the log-mel to the window; `mel_padding="silence"`: padded with the
        recording's floor instead, as a zero-padded waveform gives)."""
        from speechbudget.log_mel import log_mel_peak, log_mel_span
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
                                            timestamps=True, language=self.language,
                                            task=self.task)
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
        hotwords = [r.hotwords for r in batch] if any(r.hotwords for r in batch) else None
        prefix = [r.prefix for r in batch] if any(r.prefix for r in batch) else None
        seeds = [zlib.crc32(f"{self.seed}|{r.key}|{temperature}".encode()) for r in batch] \
            if temperature > 0 else None
        res = dec.decode(enc, lengths, [max_new_tokens(r.audio_s) for r in batch],
                         previous=previous, temperature=temperature,
                         best_of=self.best_of, seeds=seeds, hotwords=hotwords, prefix=prefix)
        _sync(self.device)
        dt = (time.perf_counter() - t0) / len(batch)
        eos = self.options.eos_id
        for j, r in enumerate(batch):
            toks = res.tokens[j]
            a = Attempt(temperature, toks, res.avg_logprob[j], res.no_speech_prob[j],
                        compression_ratio(self.text([t for t in toks if t < eos])),
                        res.stopped_by_limit[j], res.stopped_by_loop[j], res.generated[j],
                        res.prompt_tokens[j], res.hypothesis_tokens[j],
                        no_speech_head=res.no_speech_head[j])
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
