"""Language detection beyond the first window, against faster-whisper 1.2.1 on base's CTranslate2
weights: `language_detection_segments` / `language_detection_threshold` (faster-whisper's
`detect_language` rule: the next 30 s window while the top language is not more probable than
the threshold, then the majority vote), and the batched pipeline's one detection per recording on
its speech chunks joined; each window's encoder pass and decoder step in `info.gflops`."""
from __future__ import annotations

import numpy as np
import pytest

from speechbudget.axes import ConfigError
from speechbudget.tasks.asr.language import settle
from tests.asr.conftest import fw_reference

SR = 16000


# ---- the rule -----------------------------------------------------------------------------------
def test_settle_is_faster_whispers_rule():
    ranked = [("de", 0.4), ("en", 0.3)]
    assert settle([("en", 0.9, ranked)], 0.5, True) == ("en", 0.9, ranked)   # above: decides
    assert settle([("en", 0.5, ranked)], 0.5, True) is None                  # not above: more
    votes = [("de", 0.3, []), ("en", 0.45, []), ("en", 0.4, []), ("de", 0.35, ranked)]
    assert settle(votes, 0.5, False) == ("de", 0.35, ranked)   # tie: the first language voted
    assert settle(votes[1:], 0.5, False) == ("en", 0.45, ranked)   # most votes, its best p


@pytest.mark.parametrize("options,field", [
    (dict(language_detection_segments=0), "language_detection_segments"),
    (dict(language_detection_segments=1.5), "language_detection_segments"),
    (dict(language_detection_segments=True), "language_detection_segments"),
    (dict(language_detection_threshold=1.5), "language_detection_threshold"),
    (dict(language_detection_threshold="0.5"), "language_detection_threshold")])
def test_bad_detection_options_are_named(options, field):
    from speechbudget.tasks.asr.language import check_detection_options
    kw = dict(language_detection_segments=1, language_detection_threshold=0.5) | options
    with pytest.raises(ConfigError) as e:
        check_detection_options(kw["language_detection_segments"],
                                kw["language_detection_threshold"])
    assert e.value.field == field


# ---- two windows -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def long_recording(short_clips):
    """One utterance, 28 s of digital silence (not decoded), another: 34 s, two windows."""
    return np.concatenate([short_clips[0], np.zeros(28 * SR, np.float32), short_clips[1]])


@pytest.mark.slow
def test_second_window_equals_faster_whispers(base_whisper, base_faster_whisper,
                                              long_recording):
    """threshold 0.99: the first window's English (p about 0.985) does not decide, the second
    one's does; the same language, probabilities and tokens as faster-whisper, and the second
    window's encoder pass and decoder step counted on top of the one-window detection."""
    from speechbudget.flops.estimate import language_detection_flops
    kw = dict(language_detection_segments=2, language_detection_threshold=0.99)
    segs, info = base_whisper.transcribe(long_recording, **kw)
    theirs, fw_info = fw_reference(base_faster_whisper, long_recording, vad_filter=False,
                                   condition_on_previous_text=False, **kw)
    assert info.language == fw_info.language == "en"
    assert info.language_probability == pytest.approx(fw_info.language_probability, abs=1e-3)
    ours, ref = dict(info.all_language_probs), dict(fw_info.all_language_probs)
    assert max(abs(ours[c] - ref[c]) for c in ref) < 1e-3
    assert [s.tokens for s in segs] == [s.tokens for s in theirs]
    _, one = base_whisper.transcribe(long_recording)        # one window: another probability
    assert abs(one.language_probability - info.language_probability) > 1e-3
    extra = language_detection_flops(base_whisper.config, 3000, encoder=True) / 1e9
    assert info.gflops == pytest.approx(one.gflops + extra, rel=1e-12)


# ---- the batched pipeline -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def speech(short_clips):
    """Three utterances between 1 s pauses (15 s): three chunks with chunk_length=6."""
    gap = np.zeros(SR, np.float32)
    return np.concatenate([gap, short_clips[0], gap, short_clips[1], gap, short_clips[2], gap])


@pytest.mark.slow
def test_batched_detects_once_on_the_joined_speech(base_whisper, base_faster_whisper, speech):
    """faster-whisper's BatchedInferencePipeline given the same VAD chunks: the same language,
    probabilities and tokens; our GFLOPs: the chunks decoded in that language plus one
    detection (a 30 s window's encoder pass and decoder step), not one per chunk."""
    from speechbudget import BatchedInferencePipeline
    from speechbudget.flops.estimate import language_detection_flops
    from speechbudget.tasks.asr import batched, vad
    try:
        chunks = base_whisper.vad_model().speech_chunks(speech,
                                                        batched.batched_vad_options(None, 6.0))
    except vad.VadUnavailableError as e:
        pytest.skip(f"silero-vad is not installed ({e})")
    merged = batched.merge_speech_chunks(chunks, 6 * SR)
    assert len(merged) >= 3
    segs, info = BatchedInferencePipeline(base_whisper).transcribe(speech, chunk_length=6,
                                                                   batch_size=4)
    theirs, fw_info = fw_reference(base_faster_whisper, speech, batched_chunks=chunks,
                                   chunk_length=6, batch_size=4)
    assert info.language == fw_info.language == "en"
    assert info.language_probability == pytest.approx(fw_info.language_probability, abs=1e-3)
    ours, ref = dict(info.all_language_probs), dict(fw_info.all_language_probs)
    assert max(abs(ours[c] - ref[c]) for c in ref) < 1e-3
    assert [s.tokens for s in segs] == [s.tokens for s in theirs]
    alone = base_whisper.transcribe_batch([m.audio(speech) for m in merged], timestamps="off",
                                          longform="chunks", no_speech_threshold=None,
                                          logprob_threshold=None, language="en")
    once = language_detection_flops(base_whisper.config, 3000, encoder=True) / 1e9
    assert info.gflops == pytest.approx(sum(i.gflops for _, i in alone) + once, rel=1e-12)
