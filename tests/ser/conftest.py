"""SER test fixtures: synthetic class-separable clips, tiny random backbones saved as HF folders."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechbudget.tasks.ser.data import LABELS

SR = 16000


def synth_clip(label_index: int, speaker: int, rep: int, seconds: float = 1.2) -> np.ndarray:
    """A tone whose pitch (and second harmonic) says the class; speaker and take vary loudness,
    a small detune and the noise."""
    rng = np.random.default_rng(1000 * speaker + 10 * label_index + rep)
    t = np.arange(int(seconds * SR)) / SR
    f = 600.0 * 1.5 ** label_index * (1 + 0.005 * rng.standard_normal())
    x = np.sin(2 * np.pi * f * t) + 0.5 * np.sin(2 * np.pi * 2 * f * t + rng.uniform(0, 6))
    x *= 0.2 + 0.1 * rng.random()
    x += 0.01 * rng.standard_normal(len(t))
    return x.astype(np.float32)


def write_synthetic(root: Path, speakers: int = 6, reps: int = 2, seconds: float = 1.2) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for s in range(speakers):
        for li, lab in enumerate(LABELS):
            for r in range(reps):
                rel = f"audio/spk{s}/{lab}_{r}.wav"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                sf.write(root / rel, synth_clip(li, s, r, seconds), SR)
                rows.append({"id": f"s{s}_{lab}_{r}", "audio": rel, "label": lab,
                             "speaker": f"spk{s}"})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "manifest.jsonl"


@pytest.fixture(scope="session")
def synthetic_manifest(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("ser_synth"))


@pytest.fixture(scope="session")
def tiny_wav2vec2(tmp_path_factory) -> Path:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    cfg = Wav2Vec2Config(hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                         intermediate_size=64, conv_dim=(32, 32, 32), conv_kernel=(40, 4, 4),
                         conv_stride=(10, 4, 4), conv_bias=False, feat_extract_norm="group",
                         num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                         vocab_size=8)
    path = tmp_path_factory.mktemp("tiny_w2v")
    Wav2Vec2Model(cfg).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory) -> Path:
    import torch
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(0)
    cfg = WhisperConfig(vocab_size=51864, num_mel_bins=80, d_model=32, encoder_layers=4,
                        decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
                        encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=1500,
                        max_target_positions=32, decoder_start_token_id=50257,
                        eos_token_id=50256, pad_token_id=50256, bos_token_id=50256)
    path = tmp_path_factory.mktemp("tiny_whisper")
    WhisperForConditionalGeneration(cfg).save_pretrained(path)
    Tokenizer(WordLevel({"<unk>": 0}, unk_token="<unk>")).save(str(path / "tokenizer.json"))
    return path
