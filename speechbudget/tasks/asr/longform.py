"""The long-form rules of `AsrPipeline`, in its base class `LongformSeek`: `transcribe_items`
and the segments it keeps of each window. `LongformSeek` holds no state of its own; its methods
use the pipeline's (`config`, `run`, `rows_for`, `is_silence`, `text`, `decoder_for`, `options`,
the word-timestamp options, the prompt options: `initial_tokens`, `window_prompt`).

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

Rule "chunks" (the old one, for comparison; `AsrPipeline.rows_for`): an utterance of `a` seconds
under a window of `W` seconds is cut into n = ceil(a / W) consecutive, non-overlapping chunks of
equal length a / n (so no chunk is a sliver), each zero-padded to the window and decoded on its
own (no conditioning on the previous chunk's text); the chunks' texts are joined with a space. A
dynamic window is `Config.window_s_for(a)` (the utterance plus a margin, capped at 30 s).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from speechbudget.geometry import (HOP_LENGTH, MEL_FRAMES_PER_S, SAMPLE_RATE,
                                   TIMESTAMP_RESOLUTION_S, frames_for)
from speechbudget.tasks.asr import word_timing as wt
from speechbudget.tasks.asr.transcript import Segment, Transcript
from speechbudget.tasks.asr.windows import Row

# A window whose samples all stay below this (digital silence, < -100 dBFS) is not decoded: no
# text can come of it, and with beam 5 tiny.en says "You" there (P(no-speech) 0.94, average
# log-probability -0.93, above the -1.0 threshold; faster-whisper's default decoding does so)
DIGITAL_SILENCE = 1e-5


class LongformSeek:
    """`AsrPipeline.transcribe_items` and its segment building (the module docstring)."""

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
        # tokens of the initial prompt and of the kept segments (faster-whisper's all_tokens)
        history: dict[str, list[int]] = {i: list(self.initial_tokens) for i, _ in items}
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
                                        previous=history[i][since[i]:],
                                        source=audio[i], peak=peak[i],
                                        **self.window_prompt(seek[i] == 0)))
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
                # without conditioning the history restarts after every window (an initial
                # prompt prompts the first decoded one only), as faster-whisper
                if not self.condition_on_previous_text or \
                        r.temperature > self.prompt_reset_on_temperature:
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
