"""A recording whose length is not a whole number of mel frames (160 samples): its partial last
frame is no window's content, as in faster-whisper 1.2.1 (`content_frames = features.shape[-1] -
1` = floor(samples / 160); each window's mel is `features[:, seek:seek + segment_size]`, zero-padded
in the normalised log-mel) and openai-whisper. The seek loop used to give the last window that
partial frame as one more content frame (its log-mel, where both references have 0), which changed
the last word of some utterances."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from speechbudget.axes import Config
from speechbudget.tasks.asr.pipeline import AsrPipeline
from tests.asr.conftest import faster_whisper_tiny_en, noisy_tone

HOP = 160


def windows_features(bundle, audio: np.ndarray) -> list[tuple[int, int, torch.Tensor]]:
    """(seek, content frames, log-mel) of every window the seek loop decodes (timestamps off:
    seek moves by whole windows, whatever the decoder says)."""
    cfg = Config(task="asr", model="tiny.en", window=30, timestamps="off")
    pipe = AsrPipeline(bundle, cfg, "cpu")
    seen = []
    features = pipe.features

    def record(rows, cache=None):
        features(rows, cache)
        seen.extend((r.seek, r.content_frames, r.mel.clone()) for r in rows)

    pipe.features = record
    pipe.transcribe_items([("u", audio)], 1)
    return seen


@pytest.mark.parametrize("k", [0, 1, 80, 159])
def test_every_window_has_faster_whispers_features(fake_bundle, k):
    fe = pytest.importorskip("faster_whisper.feature_extractor")
    from faster_whisper.audio import pad_or_trim
    full = noisy_tone(36.0, seed=3)
    audio = full[:(len(full) // HOP - 400) * HOP + k]          # 33.6 s + k samples: 2 windows
    extractor = fe.FeatureExtractor(feature_size=fake_bundle.n_mels)
    theirs = extractor(audio, chunk_length=30)
    content = theirs.shape[-1] - 1
    assert content == len(audio) // HOP
    seen = windows_features(fake_bundle, audio)
    assert [s for s, _, _ in seen] == [0, 3000]
    for seek, frames, mel in seen:
        size = min(3000, content - seek)
        assert frames == size, f"window at {seek}: {frames} content frames, faster-whisper {size}"
        ref = torch.from_numpy(pad_or_trim(theirs[:, seek:seek + size]))
        diff = (mel - ref).abs().amax(dim=0)
        assert float(diff.max()) < 1e-4, \
            f"window at {seek}: frame {int(diff.argmax())} differs by {float(diff.max()):.3f}"


@pytest.mark.slow
def test_tokens_equal_faster_whisper_on_utterances_with_a_partial_frame(bundled_librispeech):
    """tiny.en greedy on the bundled utterances (k = 80 samples past whole frames) whose last
    words differed from faster-whisper's (same CTranslate2 weights) while the partial frame was
    the last window's content."""
    fw = faster_whisper_tiny_en()
    from speechbudget import WhisperModel
    from speechbudget.tasks.asr.transcribe import as_audio
    ids = ["1088-134315-0011", "1970-28415-0003", "3947-13262-0008", "4680-16042-0000"]
    rows = {r["id"]: r for r in map(json.loads, (bundled_librispeech / "manifest.jsonl")
                                    .read_text().splitlines()) if r["id"] in ids}
    audios = [as_audio(bundled_librispeech / rows[i]["audio"]) for i in ids]
    assert all(len(a) % HOP for a in audios)
    ours = WhisperModel("tiny.en", device="cpu").transcribe_batch(audios)
    for i, a, (segs, _) in zip(ids, audios, ours):
        theirs, _ = fw.transcribe(a, beam_size=1, temperature=0.0, language="en",
                                  condition_on_previous_text=False, vad_filter=False)
        theirs = list(theirs)
        assert [list(s.tokens) for s in segs] == [list(s.tokens) for s in theirs], i
        assert [s.text for s in segs] == [s.text.strip() for s in theirs], i
