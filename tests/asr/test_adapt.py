"""Label-free distillation on a tiny random Whisper: the loss falls, adapters reload exactly,
resume continues the same run, and an adapter for another configuration or model is refused."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from speechbudget.axes import Adaptation, Config, ConfigError
from speechbudget.models import whisper_encoder as we
from speechbudget.tasks.asr import adapt as ad
from speechbudget.tasks.asr.adapt_options import AdapterError, DistillOptions
from speechbudget.tasks.asr.adapter_files import CHECKPOINT_FILE, adapter_config
from speechbudget.tasks.asr import adapter_files as af

from .conftest import build_tiny_whisper, tiny_bundle

SR = 16000


def _audio(seconds, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * (200 + 150 * seed) * t) * (1 + np.sin(3 * t))
            + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def setup():
    bundle = tiny_bundle(build_tiny_whisper(seed=3))
    base = Config(task="asr", model="tiny.en", window=4, stride=2, stride_at=1)
    cfg = ad.distill_config(base, rank=4, steps=6)
    items = [(f"u{i}", _audio(1.5 + 0.6 * i, i)) for i in range(4)]
    samples = ad.prepare(bundle, cfg, items, batch_size=4)
    return bundle, cfg, samples


def _enc(model, cfg, samples):
    with torch.no_grad():
        mel = torch.stack([s.mel for s in samples])
        return we.encode(model.model.encoder, mel, cfg.stride, cfg.stride_at, cfg.pool)[0]


def test_loss_falls_and_reload_is_identical(setup, tmp_path):
    bundle, cfg, samples = setup
    assert all(s.teacher_enc.shape[0] == 1500 for s in samples)   # teacher at 30 s
    opts = DistillOptions(batch_size=4, lr=1e-2, seed=0)
    res = ad.distill(bundle, cfg, samples, tmp_path / "a", opts)
    losses = res.record.losses
    assert len(losses) == 6 and losses[0] > 0
    assert losses[-1] < 0.8 * losses[0], losses
    # the memory of the steps: sampled RSS while they ran, at most the process's high-water mark
    import resource
    # (2 % slack: the kernel updates its high-water mark lazily, per-thread RSS counters)
    assert 0 < res.record.peak_mem_mb <= 1.02 * resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert (tmp_path / "a" / af.ADAPTER_FILE).exists()
    assert not (tmp_path / "a" / CHECKPOINT_FILE).exists()
    loaded = af.load_adapter(tmp_path / "a", cfg, bundle.model)
    assert torch.equal(_enc(res.model, cfg, samples), _enc(loaded, cfg, samples))
    stock = _enc(bundle.model, cfg, samples)
    assert not torch.allclose(stock, _enc(loaded, cfg, samples))    # it did change something
    merged = af.load_adapter(tmp_path / "a", cfg, bundle.model, merge=True)
    torch.testing.assert_close(_enc(merged, cfg, samples), _enc(loaded, cfg, samples),
                               atol=1e-4, rtol=1e-4)
    # deterministic: a second run from scratch gives the same adapter
    again = ad.distill(bundle, cfg, samples, tmp_path / "b", opts)
    assert again.record.losses == losses
    assert torch.equal(_enc(again.model, cfg, samples), _enc(res.model, cfg, samples))


def test_resume_continues_the_same_run(setup, tmp_path):
    bundle, cfg, samples = setup
    opts = DistillOptions(batch_size=2, lr=5e-3, seed=1, checkpoint_every=2)
    full = ad.distill(bundle, cfg, samples, tmp_path / "full", opts)

    class Stop(Exception):
        pass

    def stop_at_3(step, loss):
        if step == 3:
            raise Stop

    with pytest.raises(Stop):
        ad.distill(bundle, cfg, samples, tmp_path / "cut", opts, progress=stop_at_3)
    assert (tmp_path / "cut" / CHECKPOINT_FILE).exists()
    resumed = ad.distill(bundle, cfg, samples, tmp_path / "cut", opts)
    assert resumed.record.losses == full.record.losses
    assert torch.equal(_enc(resumed.model, cfg, samples), _enc(full.model, cfg, samples))
    with pytest.raises(Stop):
        ad.distill(bundle, cfg, samples, tmp_path / "cut2", opts, progress=stop_at_3)
    other = DistillOptions(batch_size=2, lr=1e-3, seed=1, checkpoint_every=2)
    with pytest.raises(AdapterError, match="checkpoint of another run"):
        ad.distill(bundle, cfg, samples, tmp_path / "cut2", other)


def test_other_configuration_or_model_refused(setup, tmp_path):
    bundle, cfg, samples = setup
    ad.distill(bundle, cfg.with_(adaptation=ad.with_steps(cfg.adaptation, 2)), samples,
               tmp_path / "a", DistillOptions(batch_size=4))
    good = cfg.with_(adaptation=ad.with_steps(cfg.adaptation, 2))
    af.load_adapter(tmp_path / "a", good, bundle.model)
    with pytest.raises(AdapterError, match=r"window=4\.0, not 6\.0"):
        af.load_adapter(tmp_path / "a", good.with_(window=6), bundle.model)
    with pytest.raises(AdapterError, match="stride_at=1, not 2"):
        af.load_adapter(tmp_path / "a", good.with_(stride_at=2), bundle.model)
    with pytest.raises(AdapterError, match="pool='mean', not 'attn'"):
        af.load_adapter(tmp_path / "a", good.with_(pool="attn"), bundle.model)
    with pytest.raises(AdapterError, match="adaptation.rank=4, not 8"):
        af.load_adapter(tmp_path / "a", ad.distill_config(good.with_(adaptation=Adaptation()),
                                                          rank=8, steps=2), bundle.model)
    with pytest.raises(AdapterError, match="another base model"):
        af.load_adapter(tmp_path / "a", good, build_tiny_whisper(seed=9))
    with pytest.raises(AdapterError, match="model='tiny.en', not 'base.en'"):
        af.load_adapter(tmp_path / "a", good.with_(model="base.en"), bundle.model)
    with pytest.raises(AdapterError, match="not an adapter folder"):
        af.load_adapter(tmp_path, good, bundle.model)


def test_config_axis():
    c = ad.distill_config(Config(task="asr", model="tiny.en", window=15, stride=2, stride_at=2),
                          rank=8, steps=100)
    assert c.adaptation.objective == "distill" and "distill100" in c.label
    assert Config.from_json(c.to_json()) == c
    plain = Config(task="asr", model="tiny.en")
    assert "objective" not in plain.to_json() and "steps" not in plain.to_json()  # keys unchanged
    with pytest.raises(ConfigError, match="adaptation.objective"):
        Config(task="ser", model="tiny", window=1.0,
               adaptation=dict(method="lora", rank=4, objective="distill"))
    with pytest.raises(ConfigError, match="something to train"):
        Config(task="asr", model="tiny.en", adaptation=dict(objective="distill", steps=3))


def test_supervised_loss_falls_and_needs_transcripts(setup, tmp_path):
    bundle, _, _ = setup
    base = Config(task="asr", model="tiny.en", window=4, stride=2, stride_at=1)
    cfg = ad.distill_config(base, rank=4, steps=6, objective="supervised")
    assert cfg.adaptation.label == "lora4+sup6"
    texts = ["w3 w7 w9", "W12 W4", "w20 w21 w22 w23", "w8"]     # one all in capitals
    items = [(f"u{i}", _audio(1.5 + 0.6 * i, i), t) for i, t in enumerate(texts)]
    samples = ad.prepare_supervised(bundle, cfg, items)
    assert [s.tokens for s in samples][:2] == [[3, 7, 9], [12, 4]]
    assert all(s.teacher_enc is None for s in samples)
    res = ad.train_adapter(bundle, cfg, samples, tmp_path / "s",
                           DistillOptions(batch_size=4, lr=1e-2))
    losses = res.record.losses            # cross-entropy of a random model: high, falling
    assert all(b < a for a, b in zip(losses, losses[1:])) and losses[-1] < 0.97 * losses[0], \
        losses
    assert res.record.teacher_flops == 0 and res.record.step_flops > 0
    assert adapter_config(tmp_path / "s") == cfg
    loaded = af.load_adapter(tmp_path / "s", cfg, bundle.model)
    assert torch.equal(_enc(loaded, cfg, samples), _enc(res.model, cfg, samples))
    with pytest.raises(AdapterError, match=r"m\.jsonl: supervised adaptation needs "
                                              r"transcripts; 1 of 2 .*'u1'"):
        ad.prepare_supervised(bundle, cfg, [items[0], ("u1", items[1][1], "  ")],
                              source="m.jsonl")
    with pytest.raises(AdapterError, match="expected 'distill'"):
        ad.distill(bundle, cfg, samples, tmp_path / "x")


def test_target_text():
    assert ad.target_text("HELLO  WORLD") == " Hello world"
    assert ad.target_text("Hello World.") == " Hello World."
