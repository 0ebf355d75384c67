"""load_whisper / load_ssl_backbone through the real from_pretrained path, on tiny random models
saved in the test (no hub), and on a synthetic CTranslate2 folder through the converter."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from transformers import Wav2Vec2Config, Wav2Vec2ForCTC, WhisperConfig, WhisperForConditionalGeneration

from speechbudget.models.load_error import ModelLoadError
from speechbudget.models.loading import load_ssl_backbone, load_whisper

HERE = Path(__file__).resolve().parent


def _test_module(name: str):
    spec = importlib.util.spec_from_file_location(f"_sb_test_{name}", HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def save_tokenizer(folder: Path) -> None:
    """A small word-level tokenizer.json with Whisper's special tokens at their ids."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"hello": 0, "world": 1, "<unk>": 2}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))


def tiny_whisper_folder(folder: Path, vocab: int = 51865) -> WhisperForConditionalGeneration:
    torch.manual_seed(0)
    cfg = WhisperConfig(vocab_size=vocab, num_mel_bins=80, d_model=16, encoder_layers=1,
                        decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
                        encoder_ffn_dim=32, decoder_ffn_dim=32, max_source_positions=1500,
                        max_target_positions=32, suppress_tokens=[1, 2],
                        begin_suppress_tokens=[220, 50257])
    model = WhisperForConditionalGeneration(cfg).eval()
    model.save_pretrained(folder)
    save_tokenizer(folder)
    return model


def test_load_whisper_from_a_local_hf_folder(tmp_path):
    src = tiny_whisper_folder(tmp_path / "whisper-tiny-random")
    b = load_whisper(str(tmp_path / "whisper-tiny-random"), dtype=torch.float32)
    assert b.source.startswith("local:")
    assert not b.model.training and b.n_mels == 80
    assert b.prompt_ids == [50258, 50259, 50359, 50363]  # multilingual: sot, en, transcribe, notimestamps
    assert b.eos_id == 50257 and b.begin_suppress_tokens == [220, 50257]
    assert b.arch.is_whisper and b.arch.dims.d_model == 16 and not b.arch.english_only
    assert b.tokenizer.decode([0, 1], skip_special_tokens=True).replace(" ", "") == "helloworld"
    for k, v in src.state_dict().items():
        torch.testing.assert_close(b.model.state_dict()[k], v, rtol=0, atol=0)
    half = load_whisper(str(tmp_path / "whisper-tiny-random"), dtype=torch.bfloat16)
    assert half.dtype == torch.bfloat16


def test_load_whisper_from_a_ct2_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "cache"))
    ct2 = _test_module("test_ct2")
    model = ct2.tiny_whisper(seed=3)
    folder = ct2.write_ct2_folder(tmp_path / "my-ct2-model", model, "float16", parts=2)
    save_tokenizer(folder)
    b = load_whisper(str(folder))
    assert b.source == f"ctranslate2:{folder}"
    assert b.prompt_ids == [50257, 50362] and b.eos_id == 50256  # English-only vocabulary
    assert b.suppress_tokens == [1, 2, 7] and b.begin_suppress_tokens == [220, 50256]
    assert b.arch.name == "my-ct2-model" and b.arch.english_only
    w = model.model.encoder.conv1.weight.detach().half().float()
    torch.testing.assert_close(b.model.model.encoder.conv1.weight, w, rtol=0, atol=0)
    assert list((tmp_path / "cache" / "ct2-hf").iterdir())  # cached under $SPEECHBUDGET_CACHE


def test_load_ssl_backbone_from_a_ctc_checkpoint(tmp_path):
    torch.manual_seed(0)
    cfg = Wav2Vec2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=32, conv_dim=(8, 8), conv_kernel=(10, 3),
                         conv_stride=(5, 2), num_conv_pos_embeddings=4,
                         num_conv_pos_embedding_groups=2, vocab_size=12)
    src = Wav2Vec2ForCTC(cfg).eval()
    src.save_pretrained(tmp_path / "w2v")
    model, arch = load_ssl_backbone(str(tmp_path / "w2v"))
    assert type(model).__name__ == "Wav2Vec2Model" and arch.family == "wav2vec2"
    assert arch.encoder_layers == 2 and arch.hidden_size == 16
    x = torch.randn(1, 3200)
    with torch.no_grad():
        torch.testing.assert_close(model(x).last_hidden_state,
                                   src.wav2vec2(x).last_hidden_state, rtol=0, atol=1e-6)


def test_loading_errors(tmp_path, monkeypatch):
    with pytest.raises(ModelLoadError, match="'whisper-huge'.*not a registry name"):
        load_whisper("whisper-huge")
    with pytest.raises(ModelLoadError, match="wav2vec2 model, not Whisper"):
        load_whisper("wav2vec2-base")
    with pytest.raises(ModelLoadError, match="use load_whisper"):
        load_ssl_backbone("tiny.en")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="empty.*neither"):
        load_whisper(str(tmp_path / "empty"))
    tiny_whisper_folder(tmp_path / "w")
    with pytest.raises(ModelLoadError, match="'whisper' model, expected wav2vec2"):
        load_ssl_backbone(str(tmp_path / "w"))


def test_hub_id_offline_fails_clearly(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match="nobody/whisper-does-not-exist.*HF_HUB_OFFLINE"):
        load_whisper("nobody/whisper-does-not-exist")


def test_a_folder_without_a_tokenizer_is_refused(tmp_path, monkeypatch):
    """Without tokenizer.json (or vocab.json) transformers builds an empty WhisperTokenizer that
    decodes every transcript to '': load_whisper loaded it (CTranslate2 itself refuses such a
    folder). Now a ModelLoadError naming the folder, before any conversion."""
    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "cache"))
    ct2 = _test_module("test_ct2")
    folder = ct2.write_ct2_folder(tmp_path / "ct2-no-tok", ct2.tiny_whisper(seed=3), "float16")
    (folder / "vocabulary.txt").write_text("\n".join(f"t{i}" for i in range(51864)))
    with pytest.raises(ModelLoadError, match=r"ct2-no-tok: no tokenizer.*vocabulary\.txt lists"):
        load_whisper(str(folder))
    assert not (tmp_path / "cache").exists()  # refused before converting
    tiny_whisper_folder(tmp_path / "hf")
    (tmp_path / "hf" / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError, match=r"hf: no tokenizer \(tokenizer\.json"):
        load_whisper(str(tmp_path / "hf"))


def test_a_tokenizer_of_the_other_vocabulary_is_refused(tmp_path):
    """A multilingual tokenizer.json with English-only weights (or the reverse) decodes with the
    wrong BPE table and shifted special ids: garbage transcripts, no error. Now refused."""
    from tokenizers import Tokenizer, models

    tiny_whisper_folder(tmp_path / "en", vocab=51864)
    multilingual = {"hello": 0, "<|endoftext|>": 50257, "<|startoftranscript|>": 50258}
    Tokenizer(models.WordLevel(multilingual, unk_token="hello")).save(
        str(tmp_path / "en" / "tokenizer.json"))
    with pytest.raises(ModelLoadError, match=r"<\|endoftext\|> is token 50257 in the tokenizer, "
                                             r"50256 in the English-only vocabulary"):
        load_whisper(str(tmp_path / "en"))
    tiny_whisper_folder(tmp_path / "multi", vocab=51865)
    Tokenizer(models.WordLevel(multilingual, unk_token="hello")).save(
        str(tmp_path / "multi" / "tokenizer.json"))
    assert load_whisper(str(tmp_path / "multi")).eos_id == 50257  # the matching one loads


def test_a_hf_folder_with_a_non_whisper_vocabulary_is_refused(tmp_path):
    """vocab_size 51870 (a fine-tune with added tokens) was ValueError from whisper_tokens
    (exit 70); the special ids are derived from the vocabulary size."""
    tiny_whisper_folder(tmp_path / "odd", vocab=51870)
    with pytest.raises(ModelLoadError, match="vocabulary of 51870 tokens, not one of Whisper's"):
        load_whisper(str(tmp_path / "odd"))


def test_ssl_loader_names_a_ctranslate2_folder_as_such(tmp_path):
    """A CTranslate2 folder (it has a config.json) was 'not a Hugging Face model folder (no
    config.json)'."""
    ct2 = _test_module("test_ct2")
    folder = ct2.write_ct2_folder(tmp_path / "ct2", ct2.tiny_whisper(seed=3), "float16")
    assert (folder / "config.json").exists()
    with pytest.raises(ModelLoadError, match=r"ct2: a CTranslate2 model folder \(model\.bin\)"):
        load_ssl_backbone(str(folder))
