"""What `speechbudget transcribe` writes, held against openai-whisper's writers (utils.py:
`WriteJSON`, `WriteTSV`, `WriteSRT`, `WriteVTT`, `get_writer("all")`); writers on hand-made
segments, the command on a tiny random Whisper or on stubbed results (no real weights)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from speechbudget.axes import Config
from speechbudget.tasks.asr.pipeline import AsrPipeline, Segment
from speechbudget.tasks.asr.subtitles import render, to_json


def _strict(text: str):
    """json.loads refusing NaN / Infinity (not JSON)."""
    def bad(c):
        raise ValueError(f"non-standard JSON constant {c}")
    return json.loads(text, parse_constant=bad)


def test_json_segments_have_openai_whispers_keys_in_its_order(fake_bundle):
    pipe = AsrPipeline(fake_bundle, Config(task="asr", model="tiny.en", window=4))
    pipe.no_speech_threshold = None
    rng = np.random.default_rng(0)
    audio = (0.3 * np.sin(np.arange(9 * 16000) / 30) + 0.05 * rng.standard_normal(9 * 16000)
             ).astype(np.float32)
    segs = pipe.transcribe_items([("a", audio)], batch_size=2)["a"].segments
    assert segs
    body = _strict(to_json(segs))
    for s, d in zip(segs, body["segments"]):
        assert list(d) == ["id", "seek", "start", "end", "text", "tokens", "temperature",
                           "avg_logprob", "compression_ratio", "no_speech_prob"]
        assert (d["id"], d["seek"], d["tokens"], d["temperature"]) == \
            (s.id, s.seek, s.tokens, s.temperature)
        assert (d["avg_logprob"], d["compression_ratio"], d["no_speech_prob"]) == \
            pytest.approx((s.avg_logprob, s.compression_ratio, s.no_speech_prob))


def test_json_leaves_out_what_a_segment_does_not_have_and_writes_no_nan():
    body = _strict(to_json([Segment(0.0, 1.5, " Hi."),
                            Segment(1.5, 2.0, "x", [7, 8], float("-inf"), float("nan"), id=1,
                                    seek=0, compression_ratio=1.0, temperature=0.0)]))
    assert body["segments"][0] == {"start": 0.0, "end": 1.5, "text": "Hi."}  # no made-up values
    assert body["segments"][1]["avg_logprob"] is None
    assert body["segments"][1]["no_speech_prob"] is None
    assert _strict(render([Segment(0.0, 1.0, "x")], "json", {"gflops": float("nan")})
                   )["info"]["gflops"] is None
