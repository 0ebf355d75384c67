"""Registry configs, parameter arithmetic, and the `speechbudget models` command."""
from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from speechbudget.architectures import ARCHITECTURES, UnknownModelError, get_architecture
from speechbudget.models.params import param_count
from speechbudget.models.registry import build_from_config, hf_config, whisper_tokens


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_param_count_equals_the_hf_model(name):
    arch = ARCHITECTURES[name]
    model = build_from_config(arch, device="meta")
    assert {p.device.type for p in model.parameters()} == {"meta"}
    # parameters() counts a tied tensor once: Whisper's proj_out is the token embedding
    assert param_count(arch) == sum(p.numel() for p in model.parameters())
    if arch.is_whisper:
        assert model.proj_out.weight is model.model.decoder.embed_tokens.weight


def test_known_sizes():
    # published sizes (millions): tiny 39, base 74, small 244, medium 769, large 1550;
    # ours count proj_out once and include the encoder's positional table
    assert round(param_count("tiny.en") / 1e6, 1) == 37.8
    assert round(param_count("large-v3") / 1e6) == 1543
    assert round(param_count("wav2vec2-base") / 1e6, 1) == 94.4


def test_whisper_configs_have_the_vocabularies_special_ids():
    en, multi, v3 = hf_config("tiny.en"), hf_config("base"), hf_config("large-v3")
    assert (en.eos_token_id, en.decoder_start_token_id, en.begin_suppress_tokens) == (50256, 50257, [220, 50256])
    assert (multi.eos_token_id, multi.decoder_start_token_id) == (50257, 50258)
    assert v3.num_mel_bins == 128 and v3.vocab_size == 51866
    assert hf_config("large-v3-turbo").decoder_layers == 4
    assert whisper_tokens(51864).no_timestamps == 50362
    assert whisper_tokens(51865).no_timestamps == 50363
    assert whisper_tokens(51866).no_timestamps == 50364
    assert whisper_tokens(51865).transcribe == 50359 and whisper_tokens(51865).english == 50259
    with pytest.raises(ValueError, match="51000"):
        whisper_tokens(51000)


def test_ssl_configs():
    assert type(hf_config("wavlm-large")).__name__ == "WavLMConfig"
    assert hf_config("hubert-large").do_stable_layer_norm
    assert hf_config("wav2vec2-base").feat_extract_norm == "group"


def test_build_small_model_on_cpu_runs():
    from transformers import Wav2Vec2Config

    cfg = Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, conv_dim=(8, 8), conv_kernel=(10, 3),
                         conv_stride=(5, 2), num_conv_pos_embeddings=4,
                         num_conv_pos_embedding_groups=2)
    model = build_from_config("wav2vec2-base", device="cpu", config=cfg)
    with torch.no_grad():
        h = model(torch.randn(1, 1600)).last_hidden_state
    assert h.shape == (1, 159, 16)


def test_unknown_name():
    with pytest.raises(UnknownModelError, match="whisper-huge"):
        hf_config("whisper-huge")
    assert get_architecture("openai/whisper-base").name == "base"


def test_models_command_json():
    from speechbudget.cli import app

    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert set(rows) == set(ARCHITECTURES)
    assert rows["base"]["parameters"] == param_count("base")
    assert rows["small"]["offline_installed"] is False
    assert rows["wavlm-large"]["encoder_layers"] == 24
    bad = CliRunner().invoke(app, ["models", "--family", "conformer"])
    assert bad.exit_code != 0 and "conformer" in bad.output
    table = CliRunner().invoke(app, ["models"])
    assert table.exit_code == 0 and "tiny.en" in table.output
