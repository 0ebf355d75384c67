"""Our CTranslate2 reader/converter on model.bin files written by CTranslate2's *own* converter.

tests/models/test_ct2.py writes model.bin with a writer of ours that follows the format; this
file uses `ctranslate2.converters.TransformersConverter` (the reference writer, as used to make
faster-whisper models) on a small random Hugging Face Whisper, in every quantization it offers,
and checks that our converted model has the source's weights (to the quantization step) and
that its encoder gives what `ctranslate2.models.Whisper.encode` gives on the same features.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

from speechbudget.models.loading import load_whisper

ctranslate2 = pytest.importorskip("ctranslate2")
QUANTIZATIONS = ("float32", "float16", "bfloat16", "int8", "int8_float16", "int16")


def _save_tokenizer(folder: Path) -> None:
    """A word-level tokenizer (a few words; the converter pads the vocabulary to vocab_size)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"hello": 0, "world": 1, "<unk>": 2}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "<unk>"}))


@pytest.fixture(scope="module")
def hf_source(tmp_path_factory) -> tuple[Path, WhisperForConditionalGeneration]:
    torch.manual_seed(0)
    cfg = WhisperConfig(vocab_size=51864, num_mel_bins=80, d_model=32, encoder_layers=2,
                        decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
                        encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=1500,
                        max_target_positions=64, decoder_start_token_id=50257,
                        eos_token_id=50256, pad_token_id=50256, bos_token_id=50257)
    model = WhisperForConditionalGeneration(cfg).eval()
    with torch.no_grad():  # non-trivial norms and biases
        for name, p in model.named_parameters():
            if "layer_norm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    folder = tmp_path_factory.mktemp("hf-whisper")
    model.save_pretrained(folder)
    _save_tokenizer(folder)
    return folder, model


@pytest.mark.parametrize("quantization", QUANTIZATIONS)
def test_reference_converter_output_loads_and_encodes_like_ctranslate2(
        hf_source, quantization, tmp_path, monkeypatch):
    from ctranslate2.converters import TransformersConverter

    monkeypatch.setenv("SPEECHBUDGET_CACHE", str(tmp_path / "cache"))
    hf_dir, src = hf_source
    ct2_dir = tmp_path / f"ct2-{quantization}"
    TransformersConverter(str(hf_dir), copy_files=["tokenizer.json"]).convert(
        str(ct2_dir), quantization=quantization)
    # this source has no suppress_tokens: CTranslate2 writes "suppress_ids": null
    assert json.loads((ct2_dir / "config.json").read_text())["suppress_ids"] is None

    b = load_whisper(str(ct2_dir))
    assert b.suppress_tokens == [] and b.begin_suppress_tokens == [220, 50256]
    assert b.prompt_ids == [50257, 50362] and b.arch.english_only
    got, want = b.model.state_dict(), src.state_dict()

    def fused_amax(name: str) -> torch.Tensor:
        """int16 scales a whole stored tensor: q, k, v (k, v in cross-attention) are one."""
        for part in ("q_proj", "k_proj", "v_proj"):
            if f".{part}." in name:
                return max(want[name.replace(part, p)].abs().max() for p in
                           ("q_proj", "k_proj", "v_proj"))
        return want[name].abs().max()

    for name, w in want.items():
        # int8 rows / int16 tensors are quantised to 1/127 (1/1024 of the scale) of their amax
        step = {"int8": 1 / 127, "int8_float16": 1 / 127, "int16": 1 / 1024}.get(quantization)
        if step is not None and w.ndim >= 2 and not name.endswith("embed_positions.weight"):
            amax = w.abs().amax(dim=tuple(range(1, w.ndim)), keepdim=True) \
                if quantization != "int16" else fused_amax(name)
            tol = amax * step * 0.51 + (3e-3 * w.abs() if quantization == "int8_float16" else 0)
        else:
            tol = {"float16": 1e-3, "bfloat16": 8e-3, "int8_float16": 1e-3}.get(
                quantization, 0.0) * w.abs() + 1e-7
        assert bool(((got[name].float() - w).abs() <= tol).all()), f"{quantization}: {name}"

    mel = torch.randn(1, 80, 3000, generator=torch.Generator().manual_seed(1))
    ref = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type="float32",
                                     intra_threads=1)
    enc_ref = np.array(ref.encode(ctranslate2.StorageView.from_array(mel.numpy()), to_cpu=True))
    with torch.inference_mode():
        enc = b.model.model.encoder(mel).last_hidden_state.numpy()
    np.testing.assert_allclose(enc, enc_ref, rtol=0, atol=2e-5, err_msg=quantization)
