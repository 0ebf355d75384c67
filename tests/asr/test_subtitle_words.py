"""srt / vtt cues cut from word timestamps (openai-whisper's SubtitlesWriter options:
max_line_width, max_line_count, max_words_per_line, highlight_words), held against cue texts and
times worked out by hand from openai-whisper's rules on a small segment list. Before, srt / vtt
were a cue per segment whatever the words, and `transcribe` had none of these options."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.tasks.asr.transcript import Segment
from speechbudget.tasks.asr.subtitles import CueOptions, render, to_srt, to_vtt, word_cues
from speechbudget.tasks.asr.word_timing import Word


def _seg(start, end, words):
    ws = [Word(a, b, w, 0.9) for a, b, w in words]
    return Segment(start, end, "".join(w.word for w in ws), words=ws)


SEGS = [_seg(0.0, 2.3, [(0.0, 0.5, " Hello"), (0.5, 1.0, " world,"), (1.2, 1.5, " this"),
                        (1.5, 1.7, " is"), (1.7, 1.8, " a"), (1.8, 2.3, " test.")]),
        _seg(6.0, 7.0, [(6.0, 6.4, " Next"), (6.4, 7.0, " one.")])]


def test_line_width_breaks_lines_and_keeps_segments_apart():
    # Hello(5) + " world,"(7) = 12 fits; " this" would make 17: a new line; " test." 15: another
    assert word_cues(SEGS, CueOptions(max_line_width=12)) == [
        (0, 2300, "Hello world,\nthis is a\ntest."), (6000, 7000, "Next one.")]
    assert to_srt(SEGS, CueOptions(max_line_width=12)) == (
        "1\n00:00:00,000 --> 00:00:02,300\nHello world,\nthis is a\ntest.\n\n"
        "2\n00:00:06,000 --> 00:00:07,000\nNext one.\n")


def test_line_count_with_width_runs_across_segments_and_breaks_at_a_long_pause():
    # two lines full after 'a': 'test.' starts a cue; 'Next' starts 4.2 s after 'test.' (> 3 s)
    assert word_cues(SEGS, CueOptions(max_line_width=12, max_line_count=2)) == [
        (0, 1800, "Hello world,\nthis is a"), (1800, 2300, "test."), (6000, 7000, "Next one.")]
    # a pause under 3 s does not break: the second segment continues the cue's last line
    near = [SEGS[0], _seg(3.0, 3.5, [(3.0, 3.2, " Go"), (3.2, 3.5, " on.")])]
    assert word_cues(near, CueOptions(max_line_width=12, max_line_count=2)) == [
        (0, 1800, "Hello world,\nthis is a"), (1800, 3500, "test. Go on.")]


def test_max_words_per_line_cuts_each_segment_into_cues():
    assert word_cues(SEGS, CueOptions(max_words_per_line=2)) == [
        (0, 1000, "Hello world,"), (1200, 1700, "this is"), (1700, 2300, "a test."),
        (6000, 7000, "Next one.")]


def test_highlight_words_underlines_each_word_and_fills_gaps_with_the_plain_text():
    segs = [_seg(0.0, 1.0, [(0.0, 0.4, " Hi"), (0.6, 1.0, " you")])]
    assert word_cues(segs, CueOptions(highlight_words=True)) == [
        (0, 400, "<u>Hi</u> you"), (400, 600, "Hi you"), (600, 1000, "Hi <u>you</u>")]
    assert to_vtt(segs, CueOptions(highlight_words=True)) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:00.400\n<u>Hi</u> you\n\n"
        "00:00:00.400 --> 00:00:00.600\nHi you\n\n00:00:00.600 --> 00:00:01.000\n"
        "Hi <u>you</u>\n")
    # with lines: the underline stays on the word, after its line break
    two = word_cues(segs, CueOptions(max_line_width=2, highlight_words=True))
    assert two[-1] == (600, 1000, "Hi\n<u>you</u>")


def test_vtt_escapes_words_but_not_the_underline_and_no_arrow_is_written():
    segs = [_seg(0.0, 1.0, [(0.0, 0.5, " a<b"), (0.5, 1.0, " -->&")])]
    assert word_cues(segs, CueOptions(highlight_words=True), escape=lambda t: t.replace(
        "&", "&amp;").replace("<", "&lt;")) == [
        (0, 500, "<u>a&lt;b</u> ->&amp;"), (500, 1000, "a&lt;b <u>->&amp;</u>")]


def test_segment_cues_unchanged_without_options_or_words():
    assert to_srt(SEGS, CueOptions()) == to_srt(SEGS)
    plain = [Segment(0.0, 1.0, " Hi.")]   # no words computed: a cue per segment
    assert render(plain, "srt", cues=CueOptions(max_line_width=5)) == render(plain, "srt")


def test_a_segment_without_words_keeps_its_text():
    segs = [SEGS[0], Segment(3.0, 4.0, " (music)", words=[])]
    assert word_cues(segs, CueOptions(max_words_per_line=3)) == [
        (0, 1500, "Hello world, this"), (1500, 2300, "is a test."), (3000, 4000, "(music)")]


def test_options_must_be_whole_numbers_from_1():
    with pytest.raises(ValueError, match="max_line_width=0"):
        CueOptions(max_line_width=0)


# ---- the command line ------------------------------------------------------------------------
@pytest.fixture
def stub_words(monkeypatch):
    import speechbudget.cli.transcribe as tr
    seen = {}

    def fake(files, *a, word_timestamps=False, **k):
        seen["words"] = word_timestamps
        info = type("Info", (), {"to_dict": lambda self: {}, "text": ""})()
        return [(f, SEGS, info, None) for f in files]
    monkeypatch.setattr(tr, "transcribe_files", fake)
    return seen


def test_transcribe_writes_word_cues(tmp_path, stub_words):
    r = CliRunner().invoke(app, ["transcribe", str(tmp_path / "a.wav"), "--format", "srt",
                                 "--word-timestamps", "--max-line-width", "12",
                                 "--no-progress"])
    assert r.exit_code == 0, r.output
    assert r.stdout == to_srt(SEGS, CueOptions(max_line_width=12))
    assert stub_words["words"] is True


@pytest.mark.parametrize("args, says", [
    (["--format", "srt", "--highlight-words"], "--highlight-words cut subtitle cues from words: "
                                               "add --word-timestamps"),
    (["--format", "json", "--word-timestamps", "--max-line-width", "9"],
     "shape srt / vtt cues, and --format is json"),
    (["--format", "srt", "--word-timestamps", "--max-line-width", "0"], "'--max-line-width'"),
])
def test_word_cue_options_that_cannot_apply_are_usage_errors(tmp_path, stub_words, args, says):
    r = CliRunner().invoke(app, ["transcribe", str(tmp_path / "a.wav"), *args, "--no-progress"])
    assert r.exit_code == 2, r.output
    assert says in " ".join(r.output.split())


def test_an_option_that_changes_nothing_is_a_warning(tmp_path, stub_words):
    r = CliRunner().invoke(app, ["transcribe", str(tmp_path / "a.wav"), "--format", "vtt",
                                 "--word-timestamps", "--max-line-count", "2", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "warning: --max-line-count has no effect without --max-line-width" in r.stderr
