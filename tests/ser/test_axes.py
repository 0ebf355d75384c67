"""SER along the three axes: the bundled Whisper base encoder as a backbone (xN), the token stride
on the SER backbone (xV) with analytic = measured FLOPs, full fine-tuning's training FLOPs =
FlopCounterMode's (forward + backward), on real modules with random weights."""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from speechbudget.adaptation import full_finetuning
from speechbudget.axes import Config
from speechbudget.flops import estimate
from speechbudget.flops.training import per_clip_training
from speechbudget.models.whisper_encoder import encoder_tokens
from speechbudget.tasks.ser.adapt import apply_adaptation, count_trainable
from speechbudget.tasks.ser.backbone import Backbone
from speechbudget.tasks.ser.heads import SerHead


def _random_encoder(model: str) -> WhisperEncoder:
    """A randomly initialised encoder with the registry model's dimensions, eager attention
    (FlopCounterMode counts CPU SDPA as 0)."""
    d = Config(task="ser", model=model).arch.dims
    torch.manual_seed(0)
    cfg = WhisperConfig(d_model=d.d_model, encoder_layers=d.encoder_layers,
                        encoder_attention_heads=d.n_heads, encoder_ffn_dim=d.ffn_dim,
                        num_mel_bins=d.n_mels, max_source_positions=1500)
    cfg._attn_implementation = "eager"
    return WhisperEncoder(cfg).eval()


def _waves(seconds: float, n: int = 1) -> tuple[torch.Tensor, list[int]]:
    g = torch.Generator().manual_seed(1)
    s = int(seconds * 16000)
    return 0.1 * torch.randn(n, s, generator=g), [s] * n


def _counted(fn) -> int:
    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops()


def _front_end(bb: Backbone, waves: torch.Tensor) -> int:
    """FLOPs of the log-mel front end (its filterbank matmul), which the FLOPs model leaves out
    (speechbudget.flops counts the encoder and the head)."""
    from speechbudget.log_mel import log_mel_batch
    with torch.no_grad():
        return _counted(lambda: log_mel_batch(list(waves), bb.n_mels, bb.frames))


@pytest.mark.parametrize("model,window,stride,stride_at,pool", [
    ("tiny.en", 2.0, 2, 0, "mean"),
    ("tiny.en", 3.0, 4, 2, "drop"),
    ("tiny.en", 2.0, 2, "output", "mean"),
    ("base", 1.5, 4, 3, "mean"),
])
def test_stride_on_the_ser_backbone_analytic_equals_measured(model, window, stride, stride_at,
                                                             pool):
    config = Config(task="ser", model=model, window=window, stride=stride, stride_at=stride_at,
                    pool=pool)
    enc = _random_encoder(model)
    for p in enc.parameters():
        p.requires_grad_(False)
    bb = Backbone(enc, True, config)
    head = SerHead(bb.hidden_size, bb.num_hidden_states, 6).eval()
    waves, n = _waves(window)
    hidden, mask = bb(waves, n)
    assert hidden.shape[2] == encoder_tokens(int(window * 100), stride) == \
        estimate(config).encoder_tokens
    with torch.no_grad():
        measured = _counted(lambda: head(*bb(waves, n))) - _front_end(bb, waves)
    assert measured == estimate(config).total
    assert estimate(config).total < estimate(Config(task="ser", model=model, window=window)).total


@pytest.mark.parametrize("model,window,stride,stride_at", [("tiny.en", 1.0, 1, "output"),
                                                           ("tiny.en", 1.0, 2, 2),
                                                           ("base", 0.6, 1, "output")])
def test_full_finetuning_training_flops_equal_flopcountermode(model, window, stride, stride_at):
    enc = _random_encoder(model)
    L = len(enc.layers)
    config = Config(task="ser", model=model, window=window, stride=stride, stride_at=stride_at,
                    adaptation=full_finetuning(L))
    apply_adaptation(enc, config.adaptation)
    assert all(p.requires_grad for layer in enc.layers for p in layer.parameters())
    assert not enc.conv1.weight.requires_grad
    assert count_trainable(enc) == sum(p.numel() for p in enc.layers.parameters())
    bb = Backbone(enc, True, config)
    head = SerHead(bb.hidden_size, bb.num_hidden_states, 6)
    waves, n = _waves(window)
    measured = _counted(lambda: head(*bb(waves, n)).sum().backward()) - _front_end(bb, waves)
    assert any(p.grad is not None for p in enc.layers[0].parameters())
    analytic = per_clip_training(config, 6, cached_features=False)
    assert measured == analytic.total
    # forward alone (no grad) = the inference estimate
    with torch.no_grad():
        assert _counted(lambda: head(*bb(waves, n))) - _front_end(bb, waves) == \
            estimate(config).total


def test_bundled_base_loads_offline_and_feeds_the_head(monkeypatch):
    from speechbudget.models.offline import offline_source
    from speechbudget.tasks.ser.backbone import build_backbone

    if offline_source("base") is None:
        pytest.skip("the bundled Whisper base packages are not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    config = Config(task="ser", model="base", window=1.0, stride=2, stride_at=3)
    encoders: dict = {}
    bb = build_backbone(config, encoders=encoders)
    assert (bb.num_hidden_states, bb.hidden_size) == (7, 512) and len(encoders) == 1
    assert not any(p.requires_grad for p in bb.encoder.parameters())
    waves, n = _waves(1.0, 3)
    n[2] = 8000  # half a second of real audio, the rest padding
    with torch.no_grad():
        hidden, mask = bb(waves, n)
        assert hidden.shape == (7, 3, 25, 512) and mask[2].sum() == 13
        m = mask[None, :, :, None]
        head = SerHead(512, 7, 6).eval()
        head.set_normalisation(((hidden * m).sum(2) / m.sum(2)).transpose(0, 1))
        logits = head(hidden, mask)
    assert logits.shape == (3, 6) and torch.isfinite(logits).all()
    assert build_backbone(config, encoders=encoders).encoder is bb.encoder  # reused, not reloaded


@pytest.mark.parametrize("family", ["wav2vec2", "hubert", "wavlm"])
def test_wav2vec2_family_folder_loads_through_from_pretrained_and_feeds_the_head(family,
                                                                                 tmp_path):
    """Pretrained wav2vec2 / HuBERT / WavLM weights cannot be fetched here: a small random model
    saved in Hugging Face format goes through the same from_pretrained path as a real one."""
    import transformers as tf

    from speechbudget.tasks.ser.backbone import build_backbone

    cls = {"wav2vec2": "Wav2Vec2", "hubert": "Hubert", "wavlm": "WavLM"}[family]
    cfg = getattr(tf, f"{cls}Config")(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                      intermediate_size=64, conv_dim=(32, 32),
                                      conv_kernel=(10, 3), conv_stride=(5, 2),
                                      num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    torch.manual_seed(0)
    getattr(tf, f"{cls}Model")(cfg).save_pretrained(tmp_path / family)
    config = Config(task="ser", model=f"{family}-base" if family != "wavlm" else "wavlm-base-plus",
                    window=0.5)
    bb = build_backbone(config, str(tmp_path / family))
    assert not bb.is_whisper and (bb.num_hidden_states, bb.hidden_size) == (3, 32)
    waves, n = _waves(0.5, 2)
    with torch.no_grad():
        hidden, mask = bb(waves, n)
        logits = SerHead(32, 3, 6).eval()(hidden, mask)
    assert hidden.shape[:2] == (3, 2) and logits.shape == (2, 6) and torch.isfinite(logits).all()


def test_a_wav2vec2_with_an_adapter_masks_the_frames_of_its_hidden_states(tmp_path):
    """`add_adapter` downsamples the last hidden state only; the hidden states SER pools come
    before it. Their mask counted the adapter's frames (50 of 399 for 8 s at the real model's
    geometry), so pooling silently used the first eighth of each clip."""
    import transformers as tf

    from speechbudget.tasks.ser.backbone import build_backbone

    kw = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
              conv_dim=(32, 32), conv_kernel=(10, 3), conv_stride=(5, 2),
              num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    torch.manual_seed(0)
    for name, extra in (("plain", {}), ("adapter", dict(add_adapter=True, num_adapter_layers=3,
                                                        output_hidden_size=32))):
        tf.Wav2Vec2Model(tf.Wav2Vec2Config(**kw, **extra)).save_pretrained(tmp_path / name)
    config = Config(task="ser", model="wav2vec2-base", window=0.5)
    waves, n = _waves(0.5, 2)
    n = [n[0], n[1] // 2]                       # one clip half padding
    masks = {}
    for name in ("plain", "adapter"):
        with torch.no_grad():
            hidden, masks[name] = build_backbone(config, str(tmp_path / name))(waves, n)
        assert masks[name].shape[1] == hidden.shape[2]
    assert torch.equal(masks["adapter"], masks["plain"]) and masks["plain"][1].sum() > 8


def test_a_whisper_encoder_folder_without_a_tokenizer_feeds_ser(tmp_path, tiny_whisper):
    """SER uses only the encoder: a Whisper folder without tokenizer files, which ASR refuses
    (it would decode every transcript to ''), loads as a SER backbone."""
    import shutil

    from speechbudget.models.load_error import ModelLoadError
    from speechbudget.models.loading import load_whisper
    from speechbudget.tasks.ser.backbone import build_backbone

    folder = tmp_path / "no_tokenizer"
    shutil.copytree(tiny_whisper, folder)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError, match="no tokenizer"):
        load_whisper(str(folder))
    bb = build_backbone(Config(task="ser", model="tiny.en", window=0.5), str(folder))
    waves, n = _waves(0.5, 2)
    with torch.no_grad():
        hidden, mask = bb(waves, n)
    assert bb.is_whisper and hidden.shape[:2] == (5, 2) and mask.shape[0] == 2
