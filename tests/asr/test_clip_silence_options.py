"""faster-whisper's long-form options `clip_timestamps` and `hallucination_silence_threshold` with
the real tiny.en: the same segments as faster-whisper 1.2.1 with the same CTranslate2 weights
(fp32, greedy, no conditioning, no VAD), only the clips decoded (times inside them, FLOPs of their
windows only), the option values refused, the CLI flags; and the transcribe CLI's txt line with
a file name holding a tab."""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from speechbudget.axes import ConfigError
from tests.asr.conftest import faster_whisper_tiny_en, tiny_en_model

pytestmark = pytest.mark.slow

SR = 16000
FW_OPTIONS = dict(beam_size=1, temperature=0.0, condition_on_previous_text=False,
                  vad_filter=False, language="en")


def shortest(folder, n: int = 3) -> tuple[list[np.ndarray], list[str]]:
    from speechbudget.tasks.asr.transcribe import as_audio
    rows = [json.loads(x) for x in (folder / "manifest.jsonl").read_text().splitlines()
            if x.strip()]
    rows = sorted(rows, key=lambda r: (r["duration_s"], r["id"]))[:n]
    return [as_audio(folder / r["audio"]) for r in rows], [r["text"] for r in rows]


@pytest.fixture(scope="module")
def model():
    return tiny_en_model()


@pytest.fixture(scope="module")
def fw():
    """faster-whisper on the same CTranslate2 folder as the bundled tiny.en."""
    return faster_whisper_tiny_en()


@pytest.fixture(scope="module")
def joined(bundled_librispeech):
    """Three utterances with 3 s of silence between them and 1 s after; their (start, end) s."""
    utts, texts = shortest(bundled_librispeech)
    gap = np.zeros(3 * SR, np.float32)
    parts, spans, t = [], [], 0.0
    for u in utts:
        spans.append((t, t + len(u) / SR))
        t += len(u) / SR + 3
        parts += [u, gap]
    audio = np.concatenate(parts[:-1] + [np.zeros(SR, np.float32)])
    return audio, spans, texts


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def same_as_faster_whisper(ours, theirs, clips: list[tuple[float, float]]) -> None:
    """Tokens and text equal; start times equal; end times equal up to this project's clamp at
    the end of the window's audio (faster-whisper lets a timestamp point past a clip's end)."""
    theirs = list(theirs)
    assert [s.tokens for s in ours] == [list(s.tokens) for s in theirs]
    assert [s.text for s in ours] == [s.text.strip() for s in theirs]
    assert [s.start for s in ours] == pytest.approx([s.start for s in theirs], abs=1e-3)
    ends = [min(s.end, next(e for a, e in clips if a <= s.start < e)) for s in theirs]
    assert [s.end for s in ours] == pytest.approx(ends, abs=1e-3)


def test_clips_decode_only_their_audio_as_faster_whisper(model, fw, joined):
    audio, spans, texts = joined
    dur = len(audio) / SR
    (_, e0), (s1, e1), (s2, e2) = spans
    clips = [0.0, round(e0 + 0.5, 2), round(s2 - 0.5, 2), round(e2 + 0.5, 2)]
    segs, info = model.transcribe(audio, clip_timestamps=",".join(map(str, clips)))
    pairs = [(clips[0], clips[1]), (clips[2], clips[3])]
    assert info.windows == 2 and len(segs) >= 2
    for s in segs:
        assert any(a <= s.start < s.end <= b for a, b in pairs), s
    said = words(" ".join(s.text for s in segs))
    assert not said & (words(texts[1]) - words(texts[0]) - words(texts[2]))
    for t in (texts[0], texts[2]):
        assert len(said & words(t)) >= len(words(t)) / 2
    theirs, _ = fw.transcribe(audio, clip_timestamps=clips, **FW_OPTIONS)
    same_as_faster_whisper(segs, theirs, pairs)
    # a list, the same clips
    again, _ = model.transcribe(audio, clip_timestamps=clips)
    assert [(s.start, s.end, s.tokens) for s in again] == [(s.start, s.end, s.tokens)
                                                           for s in segs]

    # an odd count: the last clip runs to the end (as faster-whisper); = an end past the audio
    odd, info_odd = model.transcribe(audio, clip_timestamps=clips[:3])
    past, _ = model.transcribe(audio, clip_timestamps=clips[:3] + [dur + 60])
    assert [(s.start, s.end, s.tokens) for s in odd] == [(s.start, s.end, s.tokens) for s in past]
    theirs, _ = fw.transcribe(audio, clip_timestamps=clips[:3], **FW_OPTIONS)
    same_as_faster_whisper(odd, theirs, [pairs[0], (clips[2], dur)])


def test_flops_count_only_the_clips_windows(model, joined):
    """The clips' windows only: the FLOPs of both clips are those of each clip alone, summed,
    and every decoded window lies inside a clip."""
    from speechbudget.tasks.asr.pipeline import AsrPipeline
    audio, spans, _ = joined
    a = [0.0, round(spans[0][1] + 0.5, 2)]
    b = [round(spans[2][0] - 0.5, 2), round(spans[2][1] + 0.5, 2)]
    both = model.transcribe(audio, clip_timestamps=a + b)[1]
    first = model.transcribe(audio, clip_timestamps=a)[1]
    last = model.transcribe(audio, clip_timestamps=b)[1]
    assert both.windows == first.windows + last.windows == 2
    assert both.gflops == pytest.approx(first.gflops + last.gflops, rel=1e-12)
    assert both.decoded_tokens == first.decoded_tokens + last.decoded_tokens
    pipe = AsrPipeline(model.bundle, model.config, "cpu", model=model._model,
                       clip_timestamps=a + b)
    tr = pipe.transcribe_items([("x", audio)], 8)["x"]
    for r in tr.windows:
        lo, hi = r.seek / 100, r.seek / 100 + len(r.audio) / SR
        assert any(x <= lo and hi <= y + 1e-9 for x, y in [a, b]), (lo, hi)


def test_no_clips_and_a_whole_clip_change_nothing(model, joined):
    audio, _, _ = joined
    plain = model.transcribe(audio)
    key = [(s.start, s.end, s.tokens) for s in plain[0]], plain[1].gflops, plain[1].windows
    for clips in ("0", "", None, [], f"0,{len(audio) / SR + 5}", "0.0"):
        segs, info = model.transcribe(audio, clip_timestamps=clips,
                                      hallucination_silence_threshold=None)
        assert ([(s.start, s.end, s.tokens) for s in segs], info.gflops, info.windows) == key


@pytest.mark.parametrize("clips, why", [
    ("a,b", "'a' is not a number"), ("1,,2", "'' is not a number"), ("1,-2", "-2 is not"),
    ("nan", "'nan' is not a number"), ("3,2", "end after its start"),
    ("2,2", "end after its start"), ("0,5,4,8", "increasing order"),
    (b"0,1", "a string or a list"), ([True], "True is not"), ("0,inf", "'inf' is not a number"),
    ([0, float("inf")], "inf is not")])
def test_clip_values_refused(model, clips, why):
    with pytest.raises(ConfigError, match="clip_timestamps") as e:
        model.transcribe(np.zeros(SR, np.float32), clip_timestamps=clips)
    assert why in str(e.value)


def test_other_values_refused(model):
    z = np.zeros(SR, np.float32)
    for bad in (-1.0, float("nan"), float("inf"), "2", True):
        with pytest.raises(ConfigError, match="hallucination_silence_threshold"):
            model.transcribe(z, word_timestamps=True, hallucination_silence_threshold=bad)
    with pytest.raises(ConfigError, match="clip_timestamps.*sequential"):
        model.transcribe(z, longform="chunks", clip_timestamps="0,1")
    with pytest.raises(ConfigError, match="hallucination_silence_threshold.*sequential"):
        model.transcribe(z, longform="chunks", word_timestamps=True,
                         hallucination_silence_threshold=2.0)


def quiet_gaps(utts: list[np.ndarray], silence_s: float, amp: float) -> np.ndarray:
    """The utterances each followed by `silence_s` of seeded low noise (amplitude `amp`)."""
    rng = np.random.default_rng(0)
    parts = []
    for u in utts:
        parts += [u, (amp * rng.standard_normal(int(silence_s * SR))).astype(np.float32)]
    return np.concatenate(parts)


@pytest.fixture(scope="module")
def hard_utts(shared_librispeech):
    """The shared sample's three shortest utterances (2.1-2.3 s): tiny.en is unsure of their
    words, so the rule has segments to judge."""
    return shortest(shared_librispeech)[0]


@pytest.mark.parametrize("silence_s", [8.0, 10.0])
def test_hallucination_silence_threshold_as_faster_whisper(model, fw, hard_utts, silence_s):
    audio = quiet_gaps(hard_utts, silence_s, 0.01)
    segs, info = model.transcribe(audio, word_timestamps=True,
                                  hallucination_silence_threshold=2.0)
    theirs, _ = fw.transcribe(audio, word_timestamps=True, hallucination_silence_threshold=2.0,
                              **FW_OPTIONS)
    theirs = list(theirs)
    same_as_faster_whisper(segs, theirs, [(0.0, len(audio) / SR)])
    ours_w = [(w.start, w.end, w.word) for s in segs for w in s.words]
    their_w = [(w.start, w.end, w.word) for s in theirs for w in s.words]
    assert [w for _, _, w in ours_w] == [w for _, _, w in their_w]
    assert np.allclose([w[:2] for w in ours_w], [w[:2] for w in their_w], atol=1e-3)
    plain, _ = model.transcribe(audio, word_timestamps=True)
    assert [s.text for s in plain] != [s.text for s in segs]   # the rule changed something


def test_hallucination_rule_branches_and_windows(model, hard_utts):
    """On the 10 s gaps both branches fire: a window's leading silence skipped (nothing of it
    kept) and an anomalous segment cut; each window decoded is counted."""
    from speechbudget.tasks.asr.pipeline import AsrPipeline
    from speechbudget.tasks.asr.windows import window_gflops
    audio = quiet_gaps(hard_utts, 10.0, 0.01)
    pipe = AsrPipeline(model.bundle, model.config, "cpu", model=model._model,
                       word_timestamps=True, hallucination_silence_threshold=2.0)
    tr = pipe.transcribe_items([("x", audio)], 8)["x"]
    skips = [r for r in tr.windows if r.skipped_leading_silence]
    cuts = [r for r in tr.windows if r.hallucination_seek is not None
            and not r.skipped_leading_silence]
    assert skips and cuts
    for r in skips:
        assert not any(s.seek == r.seek for s in tr.segments)
        assert r.hallucination_seek > r.seek
    for r in cuts:
        assert all(s.start < r.hallucination_seek / 100 + 1e-9 for s in tr.segments
                   if s.seek == r.seek)
    _, info = model.transcribe(audio, word_timestamps=True, hallucination_silence_threshold=2.0)
    assert info.windows == len(tr.windows)
    assert info.gflops == pytest.approx(sum(
        window_gflops(model.config, r, pipe.decoder_for(r.timestamps).no_speech_extra)
        for r in tr.windows), rel=1e-9)


def test_threshold_without_word_timestamps_does_nothing_as_faster_whisper(model, joined):
    audio, _, _ = joined
    plain = model.transcribe(audio)
    with pytest.warns(UserWarning, match="without word_timestamps"):
        segs, info = model.transcribe(audio, hallucination_silence_threshold=0.5)
    assert [(s.start, s.end, s.tokens) for s in segs] == [(s.start, s.end, s.tokens)
                                                          for s in plain[0]]
    assert info.gflops == plain[1].gflops


def test_vad_filter_with_clips_is_ignored_as_faster_whisper(model, joined):
    audio, spans, _ = joined
    clips = [0.0, round(spans[0][1] + 0.5, 2)]
    plain = model.transcribe(audio, clip_timestamps=clips)
    with pytest.warns(UserWarning, match="vad_filter is ignored"):
        segs, info = model.transcribe(audio, clip_timestamps=clips, vad_filter=True)
    assert info.vad is None
    assert [(s.start, s.tokens) for s in segs] == [(s.start, s.tokens) for s in plain[0]]


def run_cli(args):
    from typer.testing import CliRunner

    from speechbudget.cli.app import app
    return CliRunner().invoke(app, ["transcribe", *args, "--device", "cpu", "--no-progress"])


def test_cli_flags(joined, tmp_path):
    import soundfile as sf
    audio, spans, _ = joined
    f = tmp_path / "joined.wav"
    sf.write(f, audio, SR, subtype="FLOAT")
    hi = round(spans[0][1] + 0.5, 2)
    res = run_cli([str(f), "--format", "json", "--clip-timestamps", f"0,{hi}"])
    assert res.exit_code == 0, res.output
    segs = json.loads(res.stdout)["segments"]
    assert segs and all(s["end"] <= hi for s in segs)
    res = run_cli([str(f), "--format", "json", "--word-timestamps",
                   "--hallucination-silence-threshold", "2"])
    assert res.exit_code == 0, res.output
    for args, flag, why in [
            (["--clip-timestamps", "5,1"], "--clip-timestamps", "end after its start"),
            (["--clip-timestamps", "x"], "--clip-timestamps", "'x' is not a number"),
            (["--clip-timestamps", "0,1", "--vad"], "--clip-timestamps", "--vad"),
            (["--clip-timestamps", "0,1", "--longform", "chunks"], "--clip-timestamps",
             "sequential"),
            (["--hallucination-silence-threshold", "2"], "--hallucination-silence-threshold",
             "--word-timestamps"),
            (["--hallucination-silence-threshold", "-1", "--word-timestamps"],
             "--hallucination-silence-threshold", "")]:
        res = run_cli([str(f), *args])
        assert res.exit_code == 2, (args, res.output)
        errors = [ln for ln in res.output.splitlines() if "Invalid value" in ln
                  or ln.startswith("Error")]
        assert len(errors) == 1 and flag in res.output and why in res.output, res.output


def test_txt_line_of_a_file_named_with_a_tab(bundled_librispeech, tmp_path):
    """`FILE<TAB>transcript`: a tab or line break in the file's name is written as an escape,
    so the line keeps one tab (it was printed raw: 'a', then 'b.flac' as the transcript)."""
    rows = [json.loads(x) for x in (bundled_librispeech / "manifest.jsonl").read_text()
            .splitlines() if x.strip()]
    src = bundled_librispeech / min(rows, key=lambda r: r["duration_s"])["audio"]
    f = tmp_path / f"a\tb\nc{src.suffix}"
    shutil.copy(src, f)
    res = run_cli([str(f)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert len(lines) == 1 and lines[0].count("\t") == 1
    path, text = lines[0].split("\t")
    assert path == str(f).replace("\t", "\\t").replace("\n", "\\n") and text
