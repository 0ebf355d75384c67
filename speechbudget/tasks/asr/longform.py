"""The long-form rules of `AsrPipeline`, in its base class `LongformSeek`: `transcribe_items`
and the segments it keeps of each window. `LongformSeek` holds no state of its own; its methods
use the pipeline's (`config`, `run`, `rows_for`, `is_silence`, `text`, `decoder_for`, `options`,
the word-timestamp options, the prompt options: `initial_tokens`, `window_prompt`; `language`:
words of a language written without spaces are whole characters).

Long-form rule "sequential" (`Config.longform`, the default; `transcribe_items`): Whisper's
sequential algorithm, batched across utterances. Each utterance has its own `seek` (mel frames);
every round takes, for each unfinished utterance, the window starting at its seek (a dynamic window
is fitted to what is left, capped at 30 s; a window shorter than 30 s with more audio left than it
holds takes what is left shared evenly among the windows it needs, `span_frames`, so that speech
does not run into its edge; a window starts only where a whole mel frame of audio is left, as in
openai-whisper and faster-whisper, and a partial last frame is no window's content, as in both),
computes its features (its frames of the recording's log-mel, as both references: `features`;
only the samples they see are read, so memory stays bounded by the batch), encodes and decodes all
of them together, then per utterance:
  - no speech (P(no-speech) at the first step > `no_speech_threshold` and average log-probability
    < `logprob_threshold`): the window is skipped, no text;
  - with timestamps: the complete segments (<|t0|> text <|t1|>) are kept and seek moves to the last
    complete timestamp (to the window's end if the output ends in a single timestamp, or has no
    complete segment); without: the window is one segment and seek moves to its end.
`Config.timestamps` "auto" decodes with timestamps exactly when the audio is longer than the window.
faster-whisper's two long-form options, in the same loop: `clip_timestamps` (`seek_clips`: seek
runs from each clip's start to its end, windows cut at the clip's end) and, with word
timestamps, `hallucination_silence_threshold` (`_hallucination_cut`: the silence around a likely
hallucination skipped).

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
        total = {i: max(1, -(-len(a) // HOP_LENGTH)) for i, a in items}   # frames holding audio
        # a window starts only where a whole mel frame is left, and a window's content is whole
        # frames (openai-whisper / faster-whisper: floor(samples / 160) content frames): a
        # partial last frame is no window's content (its mel frame is the padding, 0, as in both;
        # the last window's audio ends before it, its segments may end at the recording's end:
        # `_window_seek`), and a recording shorter than one
        # frame (10 ms) has no window at all, as in both
        last = {i: len(a) // HOP_LENGTH for i, a in items}
        clips = {i: self.seek_clips(last[i]) for i, _ in items}   # (start, end) mel frames
        clip = {i: 0 for i, _ in items}                          # the clip decoded now
        seek = {i: clips[i][0][0] for i, _ in items}
        audio = dict(items)
        ts = {i: self.config.timestamps_for(len(a) / SAMPLE_RATE) for i, a in items}
        # tokens of the initial prompt and of the kept segments (faster-whisper's all_tokens)
        history: dict[str, list[int]] = {i: list(self.initial_tokens) for i, _ in items}
        peak: dict[str, float | None] = {i: None for i, _ in items}  # log-mel peak, once each
        since = {i: 0 for i, _ in items}                             # conditioning starts here
        while True:
            rows = []
            for i, _ in items:
                while clip[i] < len(clips[i]):
                    start, end = clips[i][clip[i]]
                    # a clip ending at or past the recording's last whole frame ends with it
                    stop, tot = (last[i], total[i]) if end >= last[i] else (end, end)
                    seek[i] = max(seek[i], start)
                    if seek[i] >= stop:   # this clip is done: the next one from its start
                        clip[i] += 1
                        if clip[i] < len(clips[i]):
                            seek[i] = clips[i][clip[i]][0]
                        continue
                    frames, span = self.window_span(seek[i], stop, tot)
                    a = audio[i][seek[i] * HOP_LENGTH:(seek[i] + span) * HOP_LENGTH]
                    if a.size and float(np.abs(a).max()) >= DIGITAL_SILENCE:
                        # whole frames only: the recording's partial last frame is no window's
                        # content (both references' mel there is the padding, 0)
                        a = a[:(min(seek[i] + span, stop) - seek[i]) * HOP_LENGTH]
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
                # a window whose leading silence the hallucination rule skipped keeps nothing
                # and leaves the prompt as it was, as faster-whisper
                if self.is_silence(r) or r.skipped_leading_silence:
                    continue
                for sg in tr.segments[n0:]:
                    history[r.item_id].extend(sg.tokens)
                # without conditioning the history restarts after every window (an initial
                # prompt prompts the first decoded one only), as faster-whisper
                if not self.condition_on_previous_text or \
                        r.temperature > self.prompt_reset_on_temperature:
                    since[r.item_id] = len(history[r.item_id])

    def window_span(self, seek: int, stop: int, tot: int) -> tuple[int, int]:
        """(window frames, mel frames of audio it takes) of the window at `seek` when the clip
        stops at `stop` and `tot` frames hold audio (`transcribe_items`' rule)."""
        left = tot - seek
        frames = frames_for(self.config.window_s_for(left / MEL_FRAMES_PER_S))
        span = self.span_frames(frames, stop - seek)
        if seek + span >= stop:
            span = min(frames, left)
        return frames, span

    def first_window(self, item_id: str, audio: np.ndarray) -> Row | None:
        """The recording's first window as `transcribe_items` cuts it (its key, frames and
        audio: so its features and encoder states are the ones the transcription computes),
        at the first clip's start (0 when that is past the audio, as faster-whisper's language
        detection), whether or not it is digital silence; None without a whole mel frame."""
        if self.config.longform == "chunks":
            rows = self.rows_for(item_id, audio)
            return rows[0] if rows else None
        last = len(audio) // HOP_LENGTH
        if last == 0:
            return None
        total = max(1, -(-len(audio) // HOP_LENGTH))
        start, end = self.seek_clips(last)[0]
        stop, tot = (last, total) if end >= last else (end, end)
        if start >= stop:
            start, stop, tot = 0, last, total
        frames, span = self.window_span(start, stop, tot)
        a = audio[start * HOP_LENGTH:(min(start + span, stop)) * HOP_LENGTH]
        return Row(f"{item_id}@{start}", a, frames, len(a) / SAMPLE_RATE, item_id=item_id,
                   seek=start, source=audio)

    def seek_clips(self, content_frames: int) -> list[tuple[int, int]]:
        """The (start, end) mel frames of the clips to decode (`clip_timestamps`, as
        faster-whisper's seek_clips: each time x 100 rounded; an odd count's last clip ends at
        `content_frames`); the whole recording without clips."""
        ts = self.clip_timestamps
        if not ts:
            return [(0, content_frames)]
        points = [round(t * MEL_FRAMES_PER_S) for t in ts]
        if len(points) % 2:
            points.append(content_frames)
        return list(zip(points[::2], points[1::2]))

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
        """Keep the window's segments; the next seek (the hallucination rule's when it fired:
        `_hallucination_cut`)."""
        nxt = self._window_seek(tr, r)
        return nxt if r.hallucination_seek is None else r.hallucination_seek

    def _window_seek(self, tr: Transcript, r: Row) -> int:
        """Keep the window's segments; the next seek by the timestamp and word rules."""
        content = r.content_frames
        end = r.seek + content
        t0 = r.seek / MEL_FRAMES_PER_S
        # where the window's audio ends (exact, not rounded up to a mel frame): no segment ends
        # later (a timestamp token can point past it, into the padding, or past the recording),
        # so segments stay within the audio and never overlap the next window's
        stop = t0 + len(r.audio) / SAMPLE_RATE
        if r.source is not None and (r.seek * HOP_LENGTH + len(r.audio)
                                     == len(r.source) // HOP_LENGTH * HOP_LENGTH):
            stop = len(r.source) / SAMPLE_RATE   # the recording's end, past its partial frame
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
        decoded = len(segs)
        if self.word_timestamps and segs:
            done = self._words(tr, r, segs)
            words_end = wt.last_end(done)   # the word seek's (the rule's seek replaces it)
            done = done[:self._hallucination_cut(tr, r, done)]
            segs = [(d.start, d.end, toks) for d, (_, _, toks) in zip(done, segs)]
            words = [d.words for d in done]
            kept_end = wt.last_end(done)
            if kept_end is not None:
                tr.last_speech_s = kept_end
        r.mel = r.enc = None
        tr.windows.append(r)
        if not decoded:
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

    def _hallucination_cut(self, tr: Transcript, r: Row, done: list[wt.SegmentWords]) -> int:
        """faster-whisper's (and openai-whisper's) `hallucination_silence_threshold` rule on a
        window's segments with words (the sequential rule only): how many of them to keep, and
        the seek it sets (`Row.hallucination_seek`) when it fires. With `thr` the threshold, t0
        the window's start and a segment anomalous when `word_timing.is_anomaly` says so:
          - the first segment with words is anomalous and starts more than thr after t0: the
            leading silence is skipped, nothing of the window kept, seek = t0 + that gap;
          - else the first anomalous segment with silence before it (its start more than thr
            after the last speech, or before thr in the recording, or within 2 s of t0) and
            after it (the next words more than thr after its end, or the next segment with
            words anomalous too, or its end within 2 s of the window's end) is dropped with
            everything after it; seek = max(t0 + 1 s, its start), or the end of the recording
            when it ends less than thr before that."""
        thr = self.hallucination_silence_threshold
        if thr is None or r.source is None:
            return len(done)
        t0 = r.seek / MEL_FRAMES_PER_S
        first = next((d for d in done if d.words), None)
        if first is not None and wt.is_anomaly(first.words):
            gap = first.start - t0
            if gap > thr:
                r.skipped_leading_silence = True
                # at least one frame on (faster-whisper would decode the same window forever)
                r.hallucination_seek = r.seek + max(1, round(gap * MEL_FRAMES_PER_S))
                return 0
        duration = r.content_frames / MEL_FRAMES_PER_S
        window_end = (r.seek + r.frames) / MEL_FRAMES_PER_S
        content = len(r.source) // HOP_LENGTH
        last_end = tr.last_speech_s
        for k, d in enumerate(done):
            if not d.words:
                continue
            if wt.is_anomaly(d.words):
                nxt = next((x for x in done[k + 1:] if x.words), None)
                next_start = nxt.words[0].start if nxt is not None else t0 + duration
                before = d.start - last_end > thr or d.start < thr or d.start - t0 < 2.0
                after = next_start - d.end > thr or window_end - d.end < 2.0 or \
                    (nxt is not None and wt.is_anomaly(nxt.words))
                if before and after:
                    seek = round(max(t0 + 1, d.start) * MEL_FRAMES_PER_S)
                    if content / MEL_FRAMES_PER_S - d.end < thr:
                        seek = content
                    r.hallucination_seek = seek
                    return k
            last_end = d.end
        return len(done)

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
                                  *self.punctuations,
                                  split_characters=self.language in wt.NO_SPACE_LANGUAGES)
        return done

    def _decode_with_specials(self, tokens: list[int]) -> str:
        return self.bundle.tokenizer.decode(list(tokens), skip_special_tokens=False)
