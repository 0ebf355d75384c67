"""What `speechbudget transcribe` writes, held against openai-whisper's writers (utils.py:
`WriteJSON`, `WriteTSV`, `WriteSRT`, `WriteVTT`, `get_writer("all")`); writers on hand-made
segments, the command on a tiny random Whisper or on stubbed results (no real weights)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from speechbudget.axes import Config
from speechbudget.tasks.asr.pipeline import AsrPipeline
from speechbudget.tasks.asr.transcript import Segment
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


# ---- tsv and all -----------------------------------------------------------------------------
def test_tsv_is_openai_whispers_integer_milliseconds_with_a_header():
    from speechbudget.tasks.asr.subtitles import to_tsv
    segs = [Segment(0.0, 2.5, " Hello there."), Segment(3661.2504, 3662.0006, "a\tb\n\nc ")]
    assert render(segs, "tsv") == to_tsv(segs) == ("start\tend\ttext\n0\t2500\tHello there.\n"
                                                   "3661250\t3662001\ta b c\n")
    assert to_tsv([]) == "start\tend\ttext\n"


def _wav(path, seconds=3.0, seed=0):
    from .conftest import noisy_tone_wav
    return noisy_tone_wav(path, seconds, seed)


@pytest.fixture
def fake_model(monkeypatch, fake_bundle):
    from speechbudget.architectures import get_architecture
    from speechbudget.models import loading
    fake_bundle.arch = get_architecture("tiny.en")
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: fake_bundle)
    return fake_bundle


@pytest.fixture
def no_model(monkeypatch):
    from speechbudget.models import loading

    def boom(*a, **k):
        raise AssertionError("the model was loaded before the command line was checked")
    monkeypatch.setattr(loading, "load_whisper", boom)


def _cli(*args):
    from typer.testing import CliRunner

    from speechbudget.cli import app
    return CliRunner().invoke(app, ["transcribe", *map(str, args), "--device", "cpu",
                                    "--no-progress", "--window", "4"])


def test_format_all_writes_every_format_of_every_file(tmp_path, fake_model):
    a, b = _wav(tmp_path / "in" / "a b.wav", seed=1), _wav(tmp_path / "in" / "ü.wav", seed=2)
    out = tmp_path / "new" / "out"
    r = _cli(a, b, "--format", "all", "-o", out)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{stem}.{ext}" for stem in ("a b", "ü") for ext in ("txt", "srt", "vtt", "tsv", "json"))
    for stem in ("a b", "ü"):
        body = _strict((out / f"{stem}.json").read_text())
        tsv = (out / f"{stem}.tsv").read_text().splitlines()
        assert tsv[0] == "start\tend\ttext" and len(tsv) == len(body["segments"]) + 1
        assert (out / f"{stem}.vtt").read_text().startswith("WEBVTT\n")


def test_format_tsv_into_a_folder(tmp_path, fake_model):
    a = _wav(tmp_path / "a.wav")
    r = _cli(a, "--format", "tsv", "-o", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.tsv"]


def test_format_all_needs_an_output_dir(tmp_path, no_model):
    r = _cli(_wav(tmp_path / "a.wav"), "--format", "all")
    assert r.exit_code == 2, r.output
    assert "--format" in r.output and "--output-dir" in r.output, r.output


def test_several_files_printed_as_tsv_are_refused(tmp_path, no_model):
    r = _cli(_wav(tmp_path / "a.wav", seed=1), _wav(tmp_path / "b.wav", seed=2), "--format",
             "tsv")
    assert r.exit_code == 2, r.output
    assert "--output-dir" in r.output, r.output


def test_format_all_refuses_one_stem_from_two_folders(tmp_path, no_model):
    a, b = _wav(tmp_path / "a" / "talk.wav", seed=1), _wav(tmp_path / "b" / "talk.flac", seed=2)
    r = _cli(a, b, "--format", "all", "-o", tmp_path / "out")
    assert r.exit_code == 6, r.output
    assert "talk.*" in r.output and str(a) in r.output and str(b) in r.output, r.output


def test_vtt_escapes_what_a_webvtt_cue_reads_as_markup():
    # WebVTT cue text: '<' starts a tag (the text after it is lost to a player), '&' a
    # character reference; both must be escaped. SRT has no escapes: written as is
    segs = [Segment(0.0, 1.0, "x < y & z --> w"), Segment(1.0, 2.0, "AT&amp;T <i>")]
    vtt = render(segs, "vtt").split("\n")
    assert vtt[3] == "x &lt; y &amp; z -> w"
    assert vtt[6] == "AT&amp;amp;T &lt;i>"    # shown as typed, not as '&' or in italics
    assert render(segs[:1], "srt").split("\n")[2] == "x < y & z -> w"


# ---- the command's loop, on stubbed results --------------------------------------------------
class _Info:
    def __init__(self, text):
        self.text = text

    def to_dict(self):
        return {"text": self.text}


@pytest.fixture
def stub_results(monkeypatch):
    """`transcribe_files` answers with one made-up segment per file (its text chosen by the
    test), without loading any model."""
    from pathlib import Path

    from speechbudget.cli import transcribe as cmd
    texts: dict[str, str] = {}

    def fake(files, *a, **k):
        return [(Path(f), [Segment(0.0, 1.0, texts.get(Path(f).name, "hi"))],
                 _Info(texts.get(Path(f).name, "hi")), None) for f in files]
    monkeypatch.setattr(cmd, "transcribe_files", fake)
    return texts


def test_printed_txt_is_one_line_per_file_whatever_the_text_holds(tmp_path, stub_results):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    stub_results.update({"a.wav": "one\n\ntwo\tthree", "b.wav": "four"})
    r = _cli(a, b)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == [f"{a}\tone two three", f"{b}\tfour"]


def test_an_output_that_cannot_be_written_does_not_lose_the_others(tmp_path, stub_results):
    # out/b.srt is a folder: b's transcript cannot be written there; a's and c's, computed in
    # the same run, were lost with it (the first failed write ended the command)
    out = tmp_path / "out"
    (out / "b.srt").mkdir(parents=True)
    files = [tmp_path / f"{n}.wav" for n in "abc"]
    r = _cli(*files, "--format", "srt", "-o", out)
    assert r.exit_code == 6, r.output
    assert str(out / "b.srt") in r.output and "1 of 3" in r.output, r.output
    assert (out / "a.srt").read_text().endswith("hi\n")
    assert (out / "c.srt").read_text().endswith("hi\n")


@pytest.mark.parametrize("stem", ["a" * 245, "ü" * 120])   # 249 and 244 bytes with ".srt"
def test_an_input_name_near_the_length_limit_is_written(tmp_path, stub_results, stem):
    # a valid output name (<= 255 bytes) whose temporary file (".NAME.xxxxxxxx.tmp", 14 bytes
    # more) was not, so the write failed with "File name too long"
    out = tmp_path / "out"
    r = _cli(tmp_path / f"{stem}.wav", "--format", "srt", "-o", out)
    assert r.exit_code == 0, r.output
    assert [p.name for p in out.iterdir()] == [f"{stem}.srt"]
