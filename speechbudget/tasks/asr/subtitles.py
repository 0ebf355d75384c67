"""Transcript writers: plain text, SubRip (SRT), WebVTT, TSV and JSON, from segments (start, end,
text; JSON: every field a segment has). `ALL` names every format at once (one file each).

SRT and VTT write a cue per segment, or, given `CueOptions` and segments with words (word
timestamps), cues built from the words as openai-whisper's `SubtitlesWriter` builds them
(`--max_line_width`, `--max_line_count`, `--max_words_per_line`, `--highlight_words`; see
`word_cues`)."""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from speechbudget.errors import finite_json

FORMATS = ("txt", "srt", "vtt", "tsv", "json")
ALL = "all"   # every format in FORMATS, one file each (openai-whisper's --output_format all)
# a segment in JSON: openai-whisper's keys, in its order ("words" only when computed)
SEGMENT_KEYS = ("id", "seek", "start", "end", "text", "tokens", "temperature", "avg_logprob",
                "compression_ratio", "no_speech_prob", "words")


def _ms(seconds: float) -> int:
    """Whole milliseconds, rounded as openai-whisper's writers (round(seconds * 1000))."""
    return int(round(max(0.0, float(seconds)) * 1000))


def _clock(seconds: float, sep: str) -> str:
    ms = _ms(seconds)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def cue_text(text: str) -> str:
    """A segment's text as one cue line: '-->' (the cue-timing arrow) becomes '->', as
    openai-whisper's writers do, and line breaks become spaces (a blank line ends a cue)."""
    return " ".join(text.replace("-->", "->").split())


def to_txt(segments: Sequence[Any]) -> str:
    return " ".join(s.text.strip() for s in segments if s.text.strip()) + "\n"


@dataclass(frozen=True)
class CueOptions:
    """How srt/vtt cues are cut from words (openai-whisper's writer options; None: no limit).
    `max_line_width`: characters in a line before the next word starts a new line;
    `max_line_count`: lines in a cue (only with `max_line_width`: cues then run across segments,
    and a pause of more than 3 s between word starts begins a new cue); `max_words_per_line`:
    words of a segment per cue (openai-whisper's name: it cuts the cue, not the line);
    `highlight_words`: a cue per word, the whole cue's text with that word underlined
    (`<u>word</u>`), and the cue's text alone over a gap between words."""

    max_line_width: int | None = None
    max_line_count: int | None = None
    max_words_per_line: int | None = None
    highlight_words: bool = False

    def __post_init__(self) -> None:
        for name in ("max_line_width", "max_line_count", "max_words_per_line"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{name}={v!r}: expected a whole number >= 1 (or None)")

    @property
    def any(self) -> bool:
        """Whether any option is set (else: a cue per segment)."""
        return self.highlight_words or any(
            v is not None for v in (self.max_line_width, self.max_line_count,
                                    self.max_words_per_line))

    def unused(self) -> list[str]:
        """The options set that change nothing, as openai-whisper warns of them."""
        out = []
        if self.max_line_count is not None and self.max_line_width is None:
            out.append("max_line_count has no effect without max_line_width")
        if self.max_words_per_line is not None and None not in (self.max_line_width,
                                                                 self.max_line_count):
            out.append("max_words_per_line has no effect with max_line_width and "
                       "max_line_count (cues then follow the lines, not the segments)")
        return out


LONG_PAUSE_S = 3.0   # openai-whisper: a word starting > 3 s after the last one starts a new cue


def _word_text(text: str) -> str:
    """A word as written in a cue: its leading space kept, other whitespace runs one space."""
    lead = " " if text[:1].isspace() else ""
    return lead + " ".join(text.split())


def _cue_words(segments: Sequence[Any]) -> list[list[tuple[float, float, str]]]:
    """(start, end, text) of each segment's words; a segment with text but no words (none
    computed for it) is one word spanning the segment, so no text is lost."""
    out = []
    for s in segments:
        words = [(float(w.start), float(w.end), _word_text(w.word)) for w in (s.words or ())
                 if w.word.strip()]
        if not words and s.text.strip():
            words = [(float(s.start), float(s.end), " " + " ".join(s.text.split()))]
        out.append(words)
    return out


def _group(segments: Sequence[Any], opts: CueOptions) -> list[list[tuple[float, float, str]]]:
    """The words of each cue, a line break written as '\n' before the word that starts a line
    (openai-whisper's `iterate_subtitles`)."""
    per_segment = opts.max_line_count is None or opts.max_line_width is None
    width = math.inf if opts.max_line_width is None else opts.max_line_width
    chunk = math.inf if opts.max_words_per_line is None else opts.max_words_per_line
    cues: list[list[tuple[float, float, str]]] = []
    cue: list[tuple[float, float, str]] = []
    line_len, lines = 0, 1
    seg_words = _cue_words(segments)
    last = next((w[0] for ws in seg_words for w in ws), 0.0)
    for words in seg_words:
        for k, (start, end, text) in enumerate(words):
            first_of_chunk = k % chunk == 0 if chunk != math.inf else k == 0
            pause = not per_segment and start - last > LONG_PAUSE_S
            seg_break = first_of_chunk and bool(cue) and per_segment
            if line_len > 0 and line_len + len(text) <= width and not pause and not seg_break:
                line_len += len(text)   # the same line
            else:
                text = text.strip()
                if seg_break or (cue and opts.max_line_count is not None
                                 and (pause or lines >= opts.max_line_count)):
                    cues.append(cue)    # a new cue
                    cue, lines = [], 1
                elif line_len > 0:      # a new line of this cue
                    lines += 1
                    text = "\n" + text
                line_len = len(text.strip())
            cue.append((start, end, text))
            last = start
    if cue:
        cues.append(cue)
    return cues


def word_cues(segments: Sequence[Any], opts: CueOptions,
              escape: Callable[[str], str] = lambda t: t) -> list[tuple[int, int, str]]:
    """(start ms, end ms, text) of each cue cut from the segments' words by `opts`, as
    openai-whisper's `SubtitlesWriter.iterate_result` cuts them: a cue runs from its first word's
    start to its last word's end, its text the words joined (lines separated by a line break).
    With `highlight_words`, a cue per word (that word in `<u>...</u>`), preceded by the plain
    text over any gap from the previous word's end. `escape` is applied to each word (vtt);
    '-->' becomes '->' as in `cue_text`."""
    out = []
    for cue in _group(segments, opts):
        texts = [escape(t) for _, _, t in cue]
        plain = "".join(texts).replace("-->", "->")
        start, end = _ms(cue[0][0]), _ms(cue[-1][1])
        if not opts.highlight_words:
            out.append((start, end, plain))
            continue
        last = start
        for i, (ws, we, _) in enumerate(cue):
            ws, we = _ms(ws), _ms(we)
            if ws != last:
                out.append((last, ws, plain))
            lit = "".join(re.sub(r"^(\s*)(.*)$", r"\1<u>\2</u>", t, flags=re.S) if j == i
                          else t for j, t in enumerate(texts))
            out.append((ws, we, lit.replace("-->", "->")))
            last = we
    return out


def _clock_ms(ms: int, sep: str) -> str:
    return _clock(ms / 1000, sep)


def to_srt(segments: Sequence[Any], opts: CueOptions | None = None) -> str:
    if opts is not None and opts.any and _has_words(segments):
        cues = word_cues(segments, opts)
        return "\n".join(f"{i}\n{_clock_ms(a, ',')} --> {_clock_ms(b, ',')}\n{t}\n"
                         for i, (a, b, t) in enumerate(cues, 1))
    blocks = [f"{i}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{cue_text(s.text)}\n"
              for i, s in enumerate(segments, 1)]
    return "\n".join(blocks)


def _has_words(segments: Sequence[Any]) -> bool:
    """Whether word timestamps were computed (a segment's `words` is a list)."""
    return any(getattr(s, "words", None) is not None for s in segments)


def vtt_text(text: str) -> str:
    """`cue_text` with WebVTT's escapes: in a cue '<' opens a tag (a player drops the text after
    it) and '&' a character reference, so they are written '&lt;' and '&amp;' (openai-whisper
    writes them raw)."""
    return vtt_escape(cue_text(text))


def vtt_escape(text: str) -> str:
    """WebVTT's escapes of '&' and '<' (see `vtt_text`)."""
    return text.replace("&", "&amp;").replace("<", "&lt;")


def to_vtt(segments: Sequence[Any], opts: CueOptions | None = None) -> str:
    if opts is not None and opts.any and _has_words(segments):
        blocks = [f"{_clock_ms(a, '.')} --> {_clock_ms(b, '.')}\n{t}\n"
                  for a, b, t in word_cues(segments, opts, vtt_escape)]
    else:
        blocks = [f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{vtt_text(s.text)}\n"
                  for s in segments]
    return "WEBVTT\n\n" + "\n".join(blocks)


def to_tsv(segments: Sequence[Any]) -> str:
    """openai-whisper's TSV: the header `start<TAB>end<TAB>text`, then a line per segment, times
    in integer milliseconds, the text on one line (tabs and line breaks become spaces)."""
    rows = ["start\tend\ttext"] + [f"{_ms(s.start)}\t{_ms(s.end)}\t{' '.join(s.text.split())}"
                                   for s in segments]
    return "\n".join(rows) + "\n"


def segment_dict(segment: Any) -> dict[str, Any]:
    """A segment as openai-whisper's JSON writes one (`SEGMENT_KEYS`), with the fields it has:
    one not computed (None, or no tokens: a segment made by hand) is left out, a non-finite
    number is null. `text` without the leading space openai-whisper's has."""
    d: dict[str, Any] = {}
    for k in SEGMENT_KEYS:
        v = getattr(segment, k, None)
        if k == "text":
            v = v.strip()
        elif k == "tokens":
            v = [int(t) for t in v] if v else None
        elif k == "words" and v is not None:   # openai-whisper's word keys and order
            v = [{"word": w.word, "start": float(w.start), "end": float(w.end),
                  "probability": float(w.probability)} for w in v]
        if v is not None:
            d[k] = v
    return finite_json(d)


def to_json(segments: Sequence[Any], info: dict[str, Any] | None = None,
            file: str | None = None, indent: int | None = 2) -> str:
    """{"file"?, "segments": [`segment_dict`], "info"?}; indent=None: on one line (JSON Lines,
    one document per file when several are printed)."""
    body: dict[str, Any] = {} if file is None else {"file": file}
    body["segments"] = [segment_dict(s) for s in segments]
    if info is not None:
        body["info"] = finite_json(info)
    return json.dumps(body, indent=indent) + "\n"


def render(segments: Sequence[Any], fmt: str, info: dict[str, Any] | None = None,
           cues: CueOptions | None = None) -> str:
    """`segments` in format `fmt`; `cues`: how srt/vtt cut cues from words (`CueOptions`)."""
    if fmt not in FORMATS:
        raise ValueError(f"format={fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt == "json":
        return to_json(segments, info)
    if fmt in ("srt", "vtt"):
        return (to_srt if fmt == "srt" else to_vtt)(segments, cues)
    return {"txt": to_txt, "tsv": to_tsv}[fmt](segments)
