"""Fixtures for the ASR tests: a tiny random Whisper whose greedy outputs differ between inputs."""
from __future__ import annotations

import pytest
import torch


def build_tiny_whisper(seed: int = 1, vocab: int = 60, max_source_positions: int = 1500):
    """A 2+2-layer Whisper (d=32) with weights scaled up so that outputs depend on the input and
    rows end (token 50 = eos) at different steps; eager attention so HF's path is the plain one."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    cfg = WhisperConfig(vocab_size=vocab, d_model=32, encoder_layers=2, decoder_layers=2,
                        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64,
                        decoder_ffn_dim=64, num_mel_bins=16, max_source_positions=max_source_positions,
                        max_target_positions=40, pad_token_id=50, eos_token_id=50, bos_token_id=51,
                        decoder_start_token_id=51, attn_implementation="eager")
    model = WhisperForConditionalGeneration(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                continue
            scale = 3.0 / p.shape[-1] ** 0.5 if p.dim() > 1 else 0.6
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return model


def varied_mel(batch: int, frames: int = 3000, n_mels: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scale = torch.arange(1, batch + 1, dtype=torch.float32).view(batch, 1, 1)
    shift = torch.linspace(-3, 3, batch).view(batch, 1, 1)
    return torch.randn(batch, n_mels, frames, generator=g) * scale + shift


@pytest.fixture(scope="module")
def tiny_whisper():
    torch.manual_seed(0)
    return build_tiny_whisper()
