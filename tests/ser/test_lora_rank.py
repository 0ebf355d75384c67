"""`ser train --adapt lora --rank R` with R above the adapted weights' min(d_in, d_out) was
accepted and trained (exit 0); it is refused like DAMA's (one check, models.lora_targets),
naming the rank and the largest the backbone allows, exit 2, before training."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.axes import Adaptation, ConfigError
from speechbudget.cli import app


def _train(*args: str):
    return CliRunner().invoke(app, ["ser", "train", "--no-progress", *args])


@pytest.mark.parametrize("extra", [[], ["--lora-top", "2"], ["--targets", "fc1"]])
def test_a_lora_rank_above_the_weights_is_refused(synthetic_manifest, tiny_whisper, tmp_path,
                                                  extra):
    # tiny_whisper: d_model 32, ffn 64 (fc1 is 64x32): at most 32 for every target
    r = _train("--device", "cpu", "--model", str(tiny_whisper), "--arch", "tiny.en", "--data",
               str(synthetic_manifest), "--duration", "1", "--folds", "3", "--epochs", "1",
               "--adapt", "lora", "--head", "mlp", "--rank", "33", *extra,
               "--out", str(tmp_path / "ck"))
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    out = " ".join(r.output.split())
    assert "adaptation.rank=33" in out and "at most 32" in out, r.output
    assert not (tmp_path / "ck" / "ser_config.json").exists()


def test_apply_adaptation_refuses_it_in_the_python_api(tiny_wav2vec2):
    """The same check on a wav2vec2 encoder, and a target outside the transformer layers
    (feature_projection.projection, 32x32 here), which plain LoRA adapts too."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    from speechbudget.tasks.ser.adapt import apply_adaptation

    model = Wav2Vec2Model.from_pretrained(tiny_wav2vec2)
    with pytest.raises(ConfigError, match=r"adaptation\.rank=33.*at most 32"):
        apply_adaptation(model, Adaptation(method="lora", rank=33))
    assert not any("lora_" in n for n, _ in model.named_parameters())  # nothing injected
    torch.manual_seed(0)
    narrow = Wav2Vec2Model(Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(16, 16), conv_kernel=(10, 3), conv_stride=(5, 2), num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2, vocab_size=8))  # projection: 16 -> 32
    with pytest.raises(ConfigError, match=r"32x16 feature_projection\.projection weight of the "
                                          r"encoder.*at most 16"):
        apply_adaptation(narrow, Adaptation(method="lora", rank=20, targets=("projection",)))
    apply_adaptation(narrow, Adaptation(method="lora", rank=16, targets=("projection",)))
