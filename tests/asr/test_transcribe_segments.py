"""The fields a faster-whisper / openai-whisper user reads on a segment (`id`, `seek`, `tokens`,
`avg_logprob`, `compression_ratio`, `no_speech_prob`, `temperature`), each the value of the
window the segment came from (tiny random Whisper; no real weights)."""
from __future__ import annotations

import pytest

from speechbudget.axes import Config
from speechbudget.tasks.asr.pipeline import AsrPipeline
from speechbudget.tasks.asr.windows import compression_ratio

from .conftest import noisy_tone

SR = 16000




def _window_of(tr, seg):
    [row] = [r for r in tr.windows if r.seek == seg.seek]
    return row


@pytest.mark.parametrize("window,ts", [(4, "on"), (3, "off")])
def test_sequential_segments_carry_their_window_fields(fake_bundle, window, ts):
    pipe = AsrPipeline(fake_bundle, Config(task="asr", model="tiny.en", window=window,
                                           timestamps=ts))
    pipe.no_speech_threshold = None
    out = pipe.transcribe_items([("a", noisy_tone(13.0, 0)), ("b", noisy_tone(5.0, 1))], batch_size=2)
    eos = fake_bundle.eos_id
    for tr in out.values():
        segs = tr.segments
        assert len(tr.windows) >= 2 and segs
        assert [s.id for s in segs] == list(range(len(segs)))          # per recording, from 0
        assert [s.seek for s in segs] == sorted(s.seek for s in segs)
        for s in segs:
            r = _window_of(tr, s)                        # a window that was decoded there
            assert r.seek / 100 <= s.start + 1e-9        # seek in mel frames (10 ms)
            window_text = pipe.text([t for t in r.tokens if t < eos])
            assert s.compression_ratio == pytest.approx(compression_ratio(window_text))
            assert s.temperature == 0.0                  # one temperature: the only pass
            assert (s.avg_logprob, s.no_speech_prob) == (r.avg_logprob, r.no_speech_prob)
            assert set(s.tokens) <= set(r.tokens)


def test_fallback_segments_report_the_last_pass_temperature(fake_bundle):
    # every window fails the compression test (threshold below any ratio): decoded at each
    # temperature; faster-whisper reports the last one tried
    temps = (0.0, 0.5, 1.0)
    pipe = AsrPipeline(fake_bundle, Config(task="asr", model="tiny.en", window=4,
                                           timestamps="on"),
                       temperatures=temps, compression_ratio_threshold=0.01, best_of=2)
    pipe.no_speech_threshold = pipe.logprob_threshold = None
    tr = pipe.transcribe_items([("a", noisy_tone(9.0, 2))], batch_size=2)["a"]
    assert tr.segments
    for s in tr.segments:
        r = _window_of(tr, s)
        assert [a.temperature for a in r.attempts] == list(temps)
        assert s.temperature == 1.0


def test_chunk_segments_have_the_chunk_start_as_seek(fake_bundle):
    pipe = AsrPipeline(fake_bundle, Config(task="asr", model="tiny.en", window=10,
                                           longform="chunks"))
    pipe.no_speech_threshold = None
    tr = pipe.transcribe_items([("u", noisy_tone(23.0, 2))], batch_size=3)["u"]
    assert len(tr.segments) >= 2
    assert [s.id for s in tr.segments] == list(range(len(tr.segments)))
    # a chunk is one segment, starting where the chunk starts
    assert [s.seek for s in tr.segments] == [round(s.start * 100) for s in tr.segments]
    assert tr.segments[-1].seek > 0


def test_whisper_model_segments_have_the_fields(monkeypatch, fake_bundle):
    from speechbudget import WhisperModel
    from speechbudget.architectures import get_architecture
    from speechbudget.models import loading
    fake_bundle.arch = get_architecture("tiny.en")
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: fake_bundle)
    segs, _ = WhisperModel("tiny.en", device="cpu", window=4).transcribe(
        noisy_tone(9.0, 3), no_speech_threshold=None)
    assert segs
    for i, s in enumerate(segs):
        assert s.id == i and isinstance(s.seek, int) and s.tokens
        assert None not in (s.avg_logprob, s.no_speech_prob, s.compression_ratio, s.temperature)


def test_a_hand_made_segment_has_no_window_fields():
    from speechbudget.tasks.asr.transcript import Segment
    s = Segment(0.0, 1.0, "x")
    assert (s.id, s.seek, s.compression_ratio, s.temperature) == (None, None, None, None)


def test_transcribe_function_takes_a_model_loaded_from_a_folder(tiny_whisper):
    # a local folder loads as an architecture named by the folder; transcribe() put that name
    # into its Config and failed ("invalid model='model'"), where WhisperModel maps it to the
    # registry architecture with the same dimensions
    import dataclasses

    from speechbudget.architectures import get_architecture
    from speechbudget.tasks.asr.transcribe import transcribe

    from .conftest import tiny_bundle
    bundle = tiny_bundle(tiny_whisper)
    bundle.arch = dataclasses.replace(get_architecture("tiny.en"), name="my-whisper-folder")
    segs, info = transcribe(noisy_tone(3.0, 1), bundle=bundle, window=4, device="cpu",
                            no_speech_threshold=None)
    assert info.config.model == "tiny.en" and info.windows == 1
