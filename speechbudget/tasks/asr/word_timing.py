"""Per-word timestamps from the decoder's cross-attention (openai-whisper's `timing.py`, as
faster-whisper / CTranslate2 run it): pure arithmetic on numpy arrays, no model here.

One window's text tokens (every kept segment's, joined) are fed once more through the decoder,
teacher-forced: <|startoftranscript|> [language, task] <|notimestamps|> text <|endoftext|>
(`AsrPipeline` runs that pass; `WhisperDecoderRunner.teacher_forced`). Then, here:

  1. `alignment_matrix`: the cross-attention logits of the model's alignment heads (`heads_of`),
     cut to the encoder frames that hold audio (num_frames // 2 at 20 ms each), softmax over those
     frames, standardised per head over the token positions (mean 0, std 1, all positions of the
     pass), median-filtered along the frames (width 7, reflected at the edges:
     `median_filter`), averaged over the heads; the rows from <|notimestamps|> to the last text
     token are kept (one row per text token and one for the end-of-text).
  2. `dtw`: the monotonic path through -matrix of least cost (dynamic time warping, ties as
     openai-whisper and CTranslate2 break them, costs summed in float32 as CTranslate2).
  3. `split_words`: the tokens split into words at spaces (tokens first grouped into whole
     unicode characters; a token starting with a space, a punctuation token or a special token
     starts a new word), and `find_alignment`: each word starts at the frame where the path first
     reaches its first token and ends where it reaches the next word's; its probability is the
     mean of its tokens' probabilities (softmax over the text vocabulary).
  4. The duration rules (`add_word_timestamps`): the median word duration (of non-zero ones,
     at most 0.7 s) and max = 2 x median; a word at a sentence end ('.', '?', '!' ...) longer than
     max is cut to max, and so is the word after one (from its end); punctuation is merged into
     its neighbour (`merge_punctuations`: PREPEND_PUNCTUATIONS into the next word,
     APPEND_PUNCTUATIONS into the previous one); then per segment (`segment_words`): the first word
     after a pause (its end more than 4 x median after the last speech) that is too long is cut to
     max (and the second word's start moved to their shared boundary when it is too long too);
     a first word starting more than 0.5 s before the segment's own start starts at the segment's
     start (at most median before its end), else the segment starts at its first word; the same
     at the end; times rounded to 10 ms, as both references.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"
MEDIAN_FILTER_WIDTH = 7
SENTENCE_END_MARKS = ".。!！?？"
MAX_MEDIAN_DURATION_S = 0.7   # the median word duration used by the rules is at most this
PAUSE_MEDIANS = 4             # a first word ending > 4 x median after the last speech: a pause
SEGMENT_SLACK_S = 0.5         # a first/last word reaching 0.5 s beyond its segment is cut back


class Word(NamedTuple):
    """One word of a segment, as faster-whisper's `Word`: times in seconds of the recording."""

    start: float
    end: float
    word: str           # with its leading space, as decoded (and merged punctuation)
    probability: float  # mean probability of its tokens

    def to_dict(self) -> dict[str, Any]:
        """openai-whisper's JSON keys, in its order."""
        return {"word": self.word, "start": self.start, "end": self.end,
                "probability": self.probability}


@dataclass
class WordTiming:
    """A word of the alignment, times relative to the window's start (before the segment rules)."""

    word: str
    tokens: list[int] = field(default_factory=list)
    start: float = 0.0
    end: float = 0.0
    probability: float = 0.0


# ---- the alignment heads ------------------------------------------------------------------
def heads_of(model: Any) -> list[tuple[int, int]]:
    """(decoder layer, head) pairs whose cross-attention follows the speech: the loaded model's
    `generation_config.alignment_heads` (openai's per-size table, carried by the Hugging Face
    checkpoints and by CTranslate2's config.json, which `models.ct2_to_hf` copies), else every
    head of the second half of the decoder layers (CTranslate2's converter default: faster-whisper
    then uses those)."""
    cfg = model.config
    layers, heads = int(cfg.decoder_layers), int(cfg.decoder_attention_heads)
    gen = getattr(model, "generation_config", None)
    known = getattr(gen, "alignment_heads", None) if gen is not None else None
    if known:
        pairs = [(int(a), int(b)) for a, b in known]
        if all(0 <= a < layers and 0 <= b < heads for a, b in pairs):
            return pairs
    return [(a, b) for a in range(layers // 2, layers) for b in range(heads)]


# ---- the matrix and the path --------------------------------------------------------------
def median_filter(x: np.ndarray, width: int = MEDIAN_FILTER_WIDTH) -> np.ndarray:
    """Median of each `width` neighbours along the last axis, the edges reflected (not repeated,
    as torch's 'reflect' padding); `x` as it is when that axis is not longer than width // 2."""
    if width < 1 or width % 2 == 0:
        raise ValueError(f"median_filter: width={width}: an odd number >= 1")
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=-1)
    return np.partition(windows, pad, axis=-1)[..., pad]


def dtw(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The least-cost monotonic path through `cost` [N, M] from (0, 0) to (N-1, M-1), steps
    (1, 1), (1, 0) or (0, 1): (row indices, column indices) along it. The recursion
    D[i, j] = cost[i, j] + min(D[i-1, j-1], D[i-1, j], D[i, j-1]) is summed in float32 and its ties
    go to the left step (i, j-1) unless the diagonal or the upper one is strictly smaller, as
    openai-whisper's `dtw_cpu` and CTranslate2's `negative_dtw`; computed one anti-diagonal at a
    time (the cells of one depend only on the two before it)."""
    x = np.asarray(cost, dtype=np.float32)
    n, m = x.shape
    D = np.full((n + 1, m + 1), np.inf, dtype=np.float32)
    D[0, 0] = 0
    trace = np.full((n + 1, m + 1), -1, dtype=np.int8)
    for k in range(2, n + m + 1):            # cells (i, j), i + j = k, 1 <= i <= n, 1 <= j <= m
        i = np.arange(max(1, k - m), min(n, k - 1) + 1)
        j = k - i
        c0, c1, c2 = D[i - 1, j - 1], D[i - 1, j], D[i, j - 1]
        diag = (c0 < c1) & (c0 < c2)
        up = ~diag & (c1 < c0) & (c1 < c2)
        D[i, j] = x[i - 1, j - 1] + np.where(diag, c0, np.where(up, c1, c2))
        trace[i, j] = np.where(diag, 0, np.where(up, 1, 2))
    trace[0, :] = 2
    trace[:, 0] = 1
    rows, cols = [], []
    i, j = n, m
    while i > 0 or j > 0:
        rows.append(i - 1)
        cols.append(j - 1)
        t = trace[i, j]
        if t == 0:
            i, j = i - 1, j - 1
        elif t == 1:
            i -= 1
        else:
            j -= 1
    return np.array(rows[::-1]), np.array(cols[::-1])


def alignment_matrix(qk: np.ndarray, frames: int, width: int = MEDIAN_FILTER_WIDTH
                     ) -> np.ndarray:
    """[positions, frames] from the alignment heads' cross-attention logits `qk` [heads,
    positions, encoder frames] (scaled, before the softmax) of the whole teacher-forced pass:
    the first `frames` columns, softmax, standardised over the positions per head, median
    filter along the frames, mean over the heads."""
    w = np.asarray(qk, dtype=np.float32)[:, :, :frames]
    w = np.exp(w - w.max(-1, keepdims=True))
    w = w / w.sum(-1, keepdims=True)
    mean = w.mean(-2, keepdims=True)
    std = w.std(-2, keepdims=True)
    w = (w - mean) / np.where(std > 0, std, 1)   # a constant column (one frame): all 0
    return median_filter(w, width).mean(0)


# ---- tokens into words --------------------------------------------------------------------
def split_on_unicode(tokens: Sequence[int], decode: Callable[[list[int]], str]
                     ) -> tuple[list[str], list[list[int]]]:
    """Tokens grouped so that each group decodes to whole characters (a character split over
    tokens, U+FFFD alone, waits for the rest)."""
    full = decode(list(tokens))
    words, groups, current, offset = [], [], [], 0
    for t in tokens:
        current.append(int(t))
        text = decode(current)
        at = text.find("\ufffd")
        if at < 0 or (offset + at < len(full) and full[offset + at] == "\ufffd"):
            words.append(text)
            groups.append(current)
            current = []
            offset += len(text)
    return words, groups


def split_words(tokens: Sequence[int], decode: Callable[[list[int]], str], eot: int
                ) -> tuple[list[str], list[list[int]]]:
    """Words of a space-separated language: a group starting with a space, a punctuation group
    or a special token (>= eot) starts a new word; other groups continue the word before."""
    words: list[str] = []
    groups: list[list[int]] = []
    for text, toks in zip(*split_on_unicode(tokens, decode)):
        if toks[0] >= eot or text.startswith(" ") or text.strip() in string.punctuation \
                or not words:
            words.append(text)
            groups.append(list(toks))
        else:
            words[-1] += text
            groups[-1].extend(toks)
    return words, groups


# languages written without spaces between words: their "words" are whole characters
# (`split_on_unicode`), as openai-whisper and faster-whisper split them (by the decoded language,
# also when translating)
NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "yue"})


def find_alignment(text_tokens: Sequence[int], matrix: np.ndarray, token_probs: Sequence[float],
                   decode: Callable[[list[int]], str], eot: int, frames_per_s: float,
                   split_characters: bool = False) -> list[WordTiming]:
    """Words of `text_tokens` with times (seconds from the window's start) from `matrix`
    [len(text_tokens) + 1, frames] (the rows from <|notimestamps|> on, `alignment_matrix`):
    a word starts at the first frame the DTW path gives its first token, ends at the first frame
    of the next word (the end-of-text for the last). `token_probs[k]`: P(text_tokens[k]).
    `split_characters`: words are whole characters (`NO_SPACE_LANGUAGES`), else `split_words`."""
    if not len(text_tokens) or matrix.shape[1] == 0:
        return []
    rows, cols = dtw(-matrix)
    seq = list(text_tokens) + [eot]
    words, groups = split_on_unicode(seq, decode) if split_characters else \
        split_words(seq, decode, eot)
    if len(groups) <= 1:
        return []
    bounds = np.pad(np.cumsum([len(g) for g in groups[:-1]]), (1, 0))
    jumps = np.pad(np.diff(rows), (1, 0), constant_values=1).astype(bool)
    times = cols[jumps] / frames_per_s
    probs = np.asarray(token_probs, dtype=np.float64)
    return [WordTiming(w, g, float(times[i]), float(times[j]), float(np.mean(probs[i:j])))
            for w, g, i, j in zip(words, groups, bounds[:-1], bounds[1:])]


# ---- the duration rules -------------------------------------------------------------------
def duration_limits(alignment: Sequence[WordTiming]) -> tuple[float, float]:
    """(median, max) word duration: the median of the non-zero durations, at most 0.7 s (0 when
    none), and twice it."""
    d = np.array([t.end - t.start for t in alignment])
    d = d[d.nonzero()]
    median = min(MAX_MEDIAN_DURATION_S, float(np.median(d)) if len(d) else 0.0)
    return median, 2 * median


def clamp_sentence_ends(alignment: list[WordTiming], max_duration: float) -> None:
    """A sentence-end mark longer than `max_duration` ends max after its start; the word after
    one starts max before its end (only when some duration is non-zero)."""
    if not any(t.end - t.start for t in alignment):
        return
    for i in range(1, len(alignment)):
        t = alignment[i]
        if t.end - t.start > max_duration:
            if t.word in SENTENCE_END_MARKS:
                t.end = t.start + max_duration
            elif alignment[i - 1].word in SENTENCE_END_MARKS:
                t.start = t.end - max_duration


def merge_punctuations(alignment: list[WordTiming], prepended: str = PREPEND_PUNCTUATIONS,
                       appended: str = APPEND_PUNCTUATIONS) -> None:
    """A word that is only a prepended mark (with its leading space) joins the next word; one
    that is only an appended mark joins the previous word (unless that ends in a space). The
    word left behind is emptied (its time stays; it gives no `Word`)."""
    i, j = len(alignment) - 2, len(alignment) - 1
    while i >= 0:
        prev, nxt = alignment[i], alignment[j]
        if prev.word.startswith(" ") and prev.word.strip() in prepended:
            nxt.word, nxt.tokens = prev.word + nxt.word, prev.tokens + nxt.tokens
            prev.word, prev.tokens = "", []
        else:
            j = i
        i -= 1
    i, j = 0, 1
    while j < len(alignment):
        prev, nxt = alignment[i], alignment[j]
        if not prev.word.endswith(" ") and nxt.word in appended:
            prev.word, prev.tokens = prev.word + nxt.word, prev.tokens + nxt.tokens
            nxt.word, nxt.tokens = "", []
        else:
            i = j
        j += 1


@dataclass
class SegmentWords:
    """A segment's times after the rules and its words."""

    start: float
    end: float
    words: list[Word]


def segment_words(segments: Sequence[tuple[float, float, int]], alignment: Sequence[WordTiming],
                  time_offset: float, median: float, max_duration: float,
                  last_speech: float) -> tuple[list[SegmentWords], float]:
    """Share the window's words out to its segments ((start, end, text tokens) each, in order)
    and apply the segment rules (module docstring). Returns the segments' new times and words,
    and the last speech time (the end of the last segment with words, else `last_speech`)."""
    out: list[SegmentWords] = []
    k = 0
    for start, end, n_tokens in segments:
        saved, words = 0, []
        while k < len(alignment) and saved < n_tokens:
            t = alignment[k]
            if t.word:
                words.append([round(time_offset + t.start, 2), round(time_offset + t.end, 2),
                              t.word, t.probability])
            saved += len(t.tokens)
            k += 1
        if words:
            first = words[0]
            if first[1] - last_speech > median * PAUSE_MEDIANS and (
                    first[1] - first[0] > max_duration
                    or (len(words) > 1 and words[1][1] - first[0] > max_duration * 2)):
                if len(words) > 1 and words[1][1] - words[1][0] > max_duration:
                    boundary = max(words[1][1] / 2, words[1][1] - max_duration)
                    first[1] = words[1][0] = boundary
                first[0] = max(0, first[1] - max_duration)
            if start < first[1] and start - SEGMENT_SLACK_S > first[0]:
                first[0] = max(0, min(first[1] - median, start))
            else:
                start = first[0]
            last = words[-1]
            if end > last[0] and end + SEGMENT_SLACK_S < last[1]:
                last[1] = max(last[0] + median, end)
            else:
                end = last[1]
            last_speech = end
        out.append(SegmentWords(start, end, [Word(float(a), float(b), w, float(p))
                                             for a, b, w, p in words]))
    return out, last_speech


def window_words(segments: Sequence[tuple[float, float, Sequence[int]]], eot: int,
                 qk: np.ndarray, sot_len: int, frames: int, token_probs: Sequence[float],
                 decode: Callable[[list[int]], str], frames_per_s: float, time_offset: float,
                 last_speech: float, prepended: str = PREPEND_PUNCTUATIONS,
                 appended: str = APPEND_PUNCTUATIONS, split_characters: bool = False
                 ) -> tuple[list[SegmentWords], float]:
    """Everything after the teacher-forced pass for one window: `segments` (start, end, tokens)
    as decoded (timestamp tokens included); `qk` [heads, positions, encoder frames] of the pass
    over sot_len prompt tokens, <|notimestamps|>, the text tokens and <|endoftext|>; `frames`
    encoder frames that hold audio, `frames_per_s` of them per second; `token_probs` of the
    text tokens; `split_characters`: as `find_alignment`. Returns `segment_words`' result."""
    per_segment = [[int(t) for t in toks if t < eot] for _, _, toks in segments]
    text = [t for toks in per_segment for t in toks]
    alignment: list[WordTiming] = []
    if text and frames > 0:
        matrix = alignment_matrix(qk, frames)[sot_len:sot_len + len(text) + 1]
        alignment = find_alignment(text, matrix, token_probs, decode, eot, frames_per_s,
                                   split_characters)
    median, max_duration = duration_limits(alignment)
    clamp_sentence_ends(alignment, max_duration)
    merge_punctuations(alignment, prepended, appended)
    return segment_words([(s, e, len(toks)) for (s, e, _), toks in zip(segments, per_segment)],
                         alignment, time_offset, median, max_duration, last_speech)


def alignment_pass_flops(dims: Any, enc_tokens: int, fed: int, lm_rows: int) -> float:
    """Analytic FLOPs of the teacher-forced pass (`flops.whisper.decoder_flops` with the `fed`
    tokens as one prompt pass, its cross-attention K/V computed again as CTranslate2's `align`
    does) with the LM head at `lm_rows` positions (the text tokens' and the end-of-text's)."""
    from speechbudget.flops import whisper as wh
    out: dict[str, float] = {}
    wh.decoder_flops(dims, enc_tokens, fed, 1, 1, out)
    out["decoder.lm_head"] = 2 * dims.d_model * dims.vocab_size * lm_rows
    return sum(out.values())


def last_end(done: Sequence[SegmentWords]) -> float | None:
    """faster-whisper's `get_end`: the end of the last word of the window, else of its last
    segment; None without segments."""
    for s in reversed(done):
        if s.words:
            return s.words[-1].end
    return done[-1].end if done else None


# faster-whisper's (and openai-whisper's) marks for `is_anomaly`: a word equal to a substring of
# this (e.g. "," or ".") is punctuation, not a word
ANOMALY_PUNCTUATION = "\"'“¿([{-\"'.。,，!！?？:：”)]}、"


def anomaly_score(w: Word) -> float:
    """How anomalous a word is (`hallucination_silence_threshold`'s rule, faster-whisper's
    `word_anomaly_score`): +1 for a probability < 0.15, (0.133 - d) x 15 for a duration d <
    0.133 s, d - 2 for d > 2 s."""
    score = 0.0
    d = w.end - w.start
    if w.probability < 0.15:
        score += 1.0
    if d < 0.133:
        score += (0.133 - d) * 15
    if d > 2.0:
        score += d - 2.0
    return score


def is_anomaly(words: Sequence[Word]) -> bool:
    """Whether a segment with these words may be a hallucination (faster-whisper's
    `is_segment_anomaly`): of its first 8 words that are not punctuation, the anomaly scores sum
    to >= 3, or to at least their count - 0.01 (so a segment of punctuation only is one); a
    segment without words is not."""
    if not words:
        return False
    kept = [w for w in words if w.word not in ANOMALY_PUNCTUATION][:8]
    score = sum(anomaly_score(w) for w in kept)
    return score >= 3 or score + 0.01 >= len(kept)
