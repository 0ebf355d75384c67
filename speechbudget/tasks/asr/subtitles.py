"""Transcript writers: plain text, SubRip (SRT), WebVTT, TSV and JSON, from segments (start, end,
text; JSON: every field a segment has). `ALL` names every format at once (one file each)."""
from __future__ import annotations

import json
from typing import Any, Sequence

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


def to_srt(segments: Sequence[Any]) -> str:
    blocks = [f"{i}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{cue_text(s.text)}\n"
              for i, s in enumerate(segments, 1)]
    return "\n".join(blocks)


def vtt_text(text: str) -> str:
    """`cue_text` with WebVTT's escapes: in a cue '<' opens a tag (a player drops the text after
    it) and '&' a character reference, so they are written '&lt;' and '&amp;' (openai-whisper
    writes them raw)."""
    return cue_text(text).replace("&", "&amp;").replace("<", "&lt;")


def to_vtt(segments: Sequence[Any]) -> str:
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


def render(segments: Sequence[Any], fmt: str, info: dict[str, Any] | None = None) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"format={fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt == "json":
        return to_json(segments, info)
    return {"txt": to_txt, "srt": to_srt, "vtt": to_vtt, "tsv": to_tsv}[fmt](segments)
