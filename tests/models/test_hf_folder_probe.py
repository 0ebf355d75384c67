"""Hugging Face Whisper folders a user may hand over: a config.json of another model or not an
object, an unreadable tokenizer.json (also in a CTranslate2 folder), a config.json that does
not describe the weights, sharded safetensors. Each is one line naming the file, exit 5; before,
some were internal errors (exit 70) or pointed at a report nobody saw."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from speechbudget.errors import EXIT_MODEL, SpeechbudgetError
from speechbudget.models.loading import load_whisper
from tests.models.test_ct2 import tiny_whisper, write_ct2_folder
from tests.models.test_loading import save_tokenizer, tiny_whisper_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("hf") / "whisper"
    tiny_whisper_folder(d)
    return d


def _copy(folder: Path, tmp_path: Path) -> Path:
    d = tmp_path / "copy"
    shutil.copytree(folder, d)
    return d


def _edit_config(d: Path, **changes) -> None:
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(changes)
    (d / "config.json").write_text(json.dumps(cfg))


def _refused(d: Path, *words: str) -> str:
    with pytest.raises(SpeechbudgetError) as e:
        load_whisper(str(d))
    msg = str(e.value)
    assert e.value.exit_code == EXIT_MODEL, msg
    assert "\n" not in msg, msg
    for w in words:
        assert w in msg, (w, msg)
    return msg


@pytest.mark.parametrize("kind", ["bert", "wav2vec2"])
def test_a_config_of_another_model_type_is_named(folder, tmp_path, kind):
    # was AttributeError: 'WhisperConfig' object has no attribute 'intermediate_size' (exit 70)
    d = _copy(folder, tmp_path)
    _edit_config(d, model_type=kind)
    _refused(d, str(d / "config.json"), f"model_type {kind!r}", "not a Whisper model")


@pytest.mark.parametrize("text,why", [("[]", "a JSON list"), ("", "JSONDecodeError"),
                                      ('\ufeff{"model_type": "whisper"}', "BOM")])
def test_a_config_that_is_no_json_object_is_named(folder, tmp_path, text, why):
    d = _copy(folder, tmp_path)
    (d / "config.json").write_text(text, encoding="utf-8")
    _refused(d, str(d / "config.json"), why)


def test_a_config_without_model_type_still_loads(folder, tmp_path):
    d = _copy(folder, tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    cfg.pop("model_type")
    (d / "config.json").write_text(json.dumps(cfg))
    assert load_whisper(str(d)).model.config.d_model == 16


def test_an_unreadable_tokenizer_json_is_named(folder, tmp_path):
    # was 'Exception: key must be a string at line 1 column 2' (exit 70)
    d = _copy(folder, tmp_path)
    (d / "tokenizer.json").write_text("{not json")
    _refused(d, str(d / "tokenizer.json"), "not a readable tokenizer")


def test_an_unreadable_tokenizer_json_in_a_ct2_folder_names_that_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "cache"))
    d = write_ct2_folder(tmp_path / "ct2", tiny_whisper(seed=1), "int8")
    (d / "tokenizer.json").write_text("{not json")
    _refused(d, str(d / "tokenizer.json"), "not a readable tokenizer")
    save_tokenizer(d)  # a readable one: the same folder loads
    assert load_whisper(str(d)).source == f"ctranslate2:{d}"


@pytest.mark.parametrize("field,value,weight", [
    ("vocab_size", 51864, "model.decoder.embed_tokens.weight"),
    ("num_mel_bins", 128, "model.encoder.conv1.weight"),
    ("max_source_positions", 750, "model.encoder.embed_positions.weight")])
def test_a_config_that_does_not_describe_the_weights_names_a_weight(folder, tmp_path, field,
                                                                    value, weight):
    # was "could not load ...: You set `ignore_mismatched_sizes` to `False`, thus raising an
    # error. For details look at the above report!", with no report shown
    d = _copy(folder, tmp_path)
    _edit_config(d, **{field: value})
    msg = _refused(d, str(d / "model.safetensors"), weight, str(d / "config.json"))
    assert "above report" not in msg, msg


def test_a_ct2_folder_without_its_model_bin_is_named(tmp_path, monkeypatch):
    # was "could not load Whisper model ...: Error no file named model.safetensors, or
    # pytorch_model.bin, found in directory ...": taken for a Hugging Face folder
    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "cache"))
    d = write_ct2_folder(tmp_path / "ct2", tiny_whisper(seed=1), "int8")
    save_tokenizer(d)
    (d / "vocabulary.txt").write_text("a\nb\n")
    (d / "model.bin").unlink()
    _refused(d, str(d), "CTranslate2 model folder", "model.bin")


def test_an_unreadable_generation_config_is_named(folder, tmp_path):
    # was ignored unsaid: its suppress_tokens and begin_suppress_tokens were not used (exit 0)
    d = _copy(folder, tmp_path)
    (d / "generation_config.json").write_text('{"suppress_tokens": [1,')
    _refused(d, str(d / "generation_config.json"), "not a readable generation config")


def _as_pytorch_bin(d: Path) -> Path:
    """The folder's weights as pytorch_model.bin only (what older save_pretrained wrote)."""
    from safetensors.torch import load_file

    f = d / "pytorch_model.bin"
    torch.save(load_file(str(d / "model.safetensors")), f)
    (d / "model.safetensors").unlink()
    return f


def test_a_bin_only_folder_loads_and_a_config_that_does_not_describe_it_names_a_weight(
        folder, tmp_path):
    # was "... You set `ignore_mismatched_sizes` to `False`, thus raising an error. For details
    # look at the above report!": only .safetensors files were compared with the config
    d = _copy(folder, tmp_path)
    f = _as_pytorch_bin(d)
    assert load_whisper(str(d)).model.config.vocab_size == 51865
    _edit_config(d, vocab_size=51864)
    msg = _refused(d, str(f), "model.decoder.embed_tokens.weight", str(d / "config.json"))
    assert "above report" not in msg, msg


def test_a_cut_pytorch_bin_is_named(folder, tmp_path):
    # was "PytorchStreamReader failed reading zip archive ..." without the file's name
    d = _copy(folder, tmp_path)
    f = _as_pytorch_bin(d)
    f.write_bytes(f.read_bytes()[:-100])
    _refused(d, f"{f}: truncated or damaged")


def test_sharded_safetensors_with_an_index_load_and_a_cut_shard_is_named(folder, tmp_path):
    from safetensors.torch import load_file, save_file

    d = _copy(folder, tmp_path)
    sd = load_file(str(d / "model.safetensors"))
    (d / "model.safetensors").unlink()
    keys = sorted(sd)
    shards = {k: f"model-0000{1 + (i >= len(keys) // 2)}-of-00002.safetensors"
              for i, k in enumerate(keys)}
    for name in set(shards.values()):
        save_file({k: sd[k].contiguous() for k in keys if shards[k] == name}, str(d / name),
                  metadata={"format": "pt"})
    (d / "model.safetensors.index.json").write_text(json.dumps({"metadata": {},
                                                                "weight_map": shards}))
    got = load_whisper(str(d)).model.state_dict()
    for k, v in sd.items():
        torch.testing.assert_close(got[k], v, rtol=0, atol=0)
    f = d / "model-00002-of-00002.safetensors"
    f.write_bytes(f.read_bytes()[:-64])
    _refused(d, f"{f}: truncated or damaged")


def test_an_ssl_config_that_does_not_describe_its_ctc_weights_names_a_weight(tmp_path):
    """The same for load_ssl_backbone, on a ...ForCTC checkpoint (keys under 'wav2vec2.')."""
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    from speechbudget.models.loading import load_ssl_backbone

    torch.manual_seed(0)
    Wav2Vec2ForCTC(Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        conv_dim=(16, 16), conv_kernel=(10, 3), conv_stride=(5, 2), num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2, vocab_size=8)).save_pretrained(tmp_path / "w")
    _edit_config(tmp_path / "w", intermediate_size=48)
    with pytest.raises(SpeechbudgetError, match=r"wav2vec2\.encoder\.layers\.0\.feed_forward\."
                                                r"intermediate_dense\.(weight|bias) has shape"):
        load_ssl_backbone(str(tmp_path / "w"))


@pytest.mark.parametrize("bad", [60000, -1])
def test_begin_suppress_tokens_outside_the_vocabulary_are_named(folder, tmp_path, bad):
    # [220, 60000] in generation_config.json: 'transcribe' on a tiny.en copy ended in
    # 'internal error: IndexError: index 60000 is out of bounds' (exit 70) at the first step;
    # -1 would have suppressed the vocabulary's last token instead
    d = _copy(folder, tmp_path)
    gen = json.loads((d / "generation_config.json").read_text())
    gen["begin_suppress_tokens"] = [220, bad]
    (d / "generation_config.json").write_text(json.dumps(gen))
    _refused(d, str(d / "generation_config.json"), "begin_suppress_tokens", f"[{bad}]",
             "0..51864")


def test_suppress_ids_begin_outside_the_vocabulary_in_a_ct2_folder_are_named(tmp_path,
                                                                              monkeypatch):
    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "cache"))
    d = write_ct2_folder(tmp_path / "ct2", tiny_whisper(seed=1), "float16")
    save_tokenizer(d)
    cfg = json.loads((d / "config.json").read_text())
    cfg["suppress_ids_begin"] = [220, 99999]
    (d / "config.json").write_text(json.dumps(cfg))
    _refused(d, str(d / "config.json"), "suppress_ids_begin", "[99999]")


def _bpe_files(d: Path) -> None:
    """A tiny byte-level BPE in the older tokenizer format (vocab.json + merges.txt): ' hello'
    is one token, id 9."""
    vocab = {"h": 0, "e": 1, "l": 2, "o": 3, "\u0120": 4, "he": 5, "ll": 6, "hell": 7,
             "hello": 8, "\u0120hello": 9}
    (d / "vocab.json").write_text(json.dumps(vocab))
    (d / "merges.txt").write_text("#version: 0.2\nh e\nl l\nhe ll\nhell o\n\u0120 hello\n",
                                  encoding="utf-8")


def test_vocab_json_without_merges_is_named(folder, tmp_path):
    # was 'ValueError: `vocab` and `merges` must be both be from memory or both filenames'
    # (exit 70) from transformers: require_tokenizer counted vocab.json alone as a tokenizer
    d = _copy(folder, tmp_path)
    (d / "tokenizer.json").unlink()
    _bpe_files(d)
    (d / "merges.txt").unlink()
    _refused(d, str(d), "vocab.json without merges.txt")


def test_a_ct2_folder_with_the_older_tokenizer_files_keeps_its_tokenizer(tmp_path, monkeypatch):
    # vocab.json + merges.txt passed require_tokenizer but were not copied into the converted
    # folder: transformers built an empty WhisperTokenizer (encode(' hello') == []) and every
    # transcript would have been ''
    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "cache"))
    d = write_ct2_folder(tmp_path / "ct2", tiny_whisper(seed=1), "float16")
    _bpe_files(d)
    b = load_whisper(str(d))
    assert b.tokenizer.encode(" hello", add_special_tokens=False) == [9]
    assert b.tokenizer.decode([9]) == " hello"
