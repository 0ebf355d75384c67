"""`WhisperModel.detect_language`: faster-whisper 1.2.1's `detect_language` (language,
probability, all_language_probs) without transcribing, on base's CTranslate2 weights: the same
top language, probabilities within 1e-4 (the same log-mel: faster-whisper's extra frame of
its 160 padding samples included; without it they differ by up to 1.1e-3 on these clips) and
the same five most probable codes; with
vad_filter (faster-whisper's bundled VAD model, so the chunks are its own), on empty audio /
no speech (its empty features), on a recording longer than the windows looked at (cut as it
cuts it); an English-only model's answer; ConfigError naming a bad option."""
from __future__ import annotations

import numpy as np
import pytest

from speechbudget.axes import ConfigError

SR = 16000


@pytest.fixture(scope="module")
def base_fw_vad(base_whisper):
    """Ours around the session's base with faster-whisper's VAD model (its exact chunks)."""
    pytest.importorskip("onnxruntime")
    from speechbudget import WhisperModel
    return WhisperModel.from_bundle(base_whisper.bundle, vad_model="faster-whisper")


def assert_same(ours, theirs):
    language, p, probs = ours
    assert isinstance(probs, list) and all(isinstance(x, tuple) for x in probs)
    assert len(probs) == len(theirs[2]) == 99
    assert language == theirs[0]
    assert p == pytest.approx(theirs[1], abs=1e-4)
    assert [c for c, _ in probs[:5]] == [c for c, _ in theirs[2][:5]]
    np.testing.assert_allclose([q for _, q in probs[:5]], [q for _, q in theirs[2][:5]],
                               rtol=0, atol=1e-4)
    assert [q for _, q in probs] == sorted((q for _, q in probs), reverse=True)


@pytest.mark.parametrize("vad", [False, True])
@pytest.mark.parametrize("clip", [0, 1])
def test_equal_to_faster_whispers(base_fw_vad, base_faster_whisper, short_clips, clip, vad):
    """Two short utterances; with vad_filter one second of silence on each side, which the VAD
    takes out."""
    audio = short_clips[clip]
    if vad:
        audio = np.concatenate([np.zeros(SR, np.float32), audio, np.zeros(SR, np.float32)])
    theirs = base_faster_whisper.detect_language(audio, vad_filter=vad)
    assert_same(base_fw_vad.detect_language(audio, vad_filter=vad), theirs)


def test_no_audio_or_no_speech_is_detected_on_the_empty_features(base_fw_vad,
                                                                  base_faster_whisper):
    """faster-whisper detects on the frame of its 160 padding samples (-1.5), zero-padded: so do
    we."""
    empty = np.zeros(0, np.float32)
    assert_same(base_fw_vad.detect_language(empty), base_faster_whisper.detect_language(empty))
    silence = np.zeros(2 * SR, np.float32)
    assert_same(base_fw_vad.detect_language(silence, vad_filter=True),
                base_faster_whisper.detect_language(silence, vad_filter=True))


@pytest.mark.parametrize("segments,threshold", [(1, 0.5), (2, 1.0)])
def test_a_long_recording_is_cut_to_the_windows_looked_at(base_whisper, base_faster_whisper,
                                                          short_clips, segments, threshold):
    """38 s: a quiet utterance, silence to 31 s, then a loud one. faster-whisper's log-mel is
    floored at the peak of the part it looks at (its first 30 s x segments), not of the
    recording: with segments=1 the loud part is out of it. segments=2 with threshold 1.0:
    both windows looked at and the majority vote, as faster-whisper."""
    quiet = 0.2 * short_clips[0]
    loud = short_clips[1] / max(1e-6, float(np.abs(short_clips[1]).max())) * 0.9
    audio = np.concatenate([quiet, np.zeros(31 * SR - len(quiet), np.float32), loud,
                            loud]).astype(np.float32)
    kw = dict(language_detection_segments=segments, language_detection_threshold=threshold)
    assert_same(base_whisper.detect_language(audio, **kw),
                base_faster_whisper.detect_language(audio, **kw))


def test_the_detection_and_its_gflops(base_whisper, short_clips):
    """`language_detection`: the same answer as a Detection, whose GFLOPs are one encoder pass
    and one decoder step per window looked at."""
    from speechbudget.flops.estimate import language_detection_flops
    found = base_whisper.language_detection(short_clips[0])
    assert (found.language, found.probability, list(found.all_probs)) == \
        base_whisper.detect_language(short_clips[0])
    assert found.more_frames == ()
    assert found.gflops(base_whisper.config, reused=False) == pytest.approx(
        language_detection_flops(base_whisper.config, found.frames, encoder=True) / 1e9)


def test_an_english_only_model_answers_english():
    from tests.asr.conftest import tiny_en_model
    model = tiny_en_model()
    assert model.detect_language(np.zeros(SR, np.float32)) == ("en", 1.0, [("en", 1.0)])
    assert model.language_detection(np.zeros(SR, np.float32)) is None


@pytest.mark.parametrize("field,kw", [
    ("vad_filter", dict(vad_filter="yes")),
    ("vad_parameters", dict(vad_parameters={"treshold": 0.3})),
    ("language_detection_segments", dict(language_detection_segments=0)),
    ("language_detection_segments", dict(language_detection_segments=1.5)),
    ("language_detection_threshold", dict(language_detection_threshold=1.5)),
])
def test_a_bad_option_names_its_field(base_whisper, field, kw):
    with pytest.raises(ConfigError) as e:
        base_whisper.detect_language(np.zeros(SR, np.float32), **kw)
    assert e.value.field == field
