"""LoRA in the top layers only (`Adaptation.lora_top`) and the cached frozen prefix: the layers
below the first that trains run once per clip; training from the cache gives the same model as
training through the whole backbone, and its FLOPs are FlopCounterMode's."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from speechbudget.adaptation import frozen_prefix, lora_layers
from speechbudget.axes import Adaptation, Config, ConfigError
from speechbudget.flops.training import feature_flops, per_clip_training, training_flops
from speechbudget.models.whisper_encoder import encode_layers, encode_layers_from
from speechbudget.tasks.ser.adapt import apply_adaptation
from speechbudget.tasks.ser.backbone import load_encoder
from speechbudget.tasks.ser.data import load_dataset
from speechbudget.tasks.ser.flops_check import measure_training
from speechbudget.tasks.ser.metrics import fit_training_gflops
from speechbudget.tasks.ser.runner import fold_splits
from speechbudget.tasks.ser.features import prefix_blockers, prefix_layer
from speechbudget.tasks.ser.options import TrainOptions
from speechbudget.tasks.ser.train import fit

TOP1 = Adaptation(method="lora", rank=4, lora_top=1)


def test_lora_top_is_validated_and_keeps_old_keys():
    c = Config(task="ser", model="tiny.en", window=2.0, adaptation=TOP1)
    assert c.label == "tiny.en 2s lora4@top1"
    assert Config.from_dict(c.to_dict()) == c
    plain = Config(task="ser", model="tiny.en", window=2.0, adaptation=Adaptation("lora", 4))
    assert "lora_top" not in plain.to_dict()["adaptation"]  # keys of existing stores unchanged
    with pytest.raises(ConfigError, match="adaptation.lora_top"):
        Adaptation(method="dama", rank=4, lora_top=1)
    with pytest.raises(ConfigError, match="adaptation.lora_top"):
        Adaptation(lora_top=1)
    with pytest.raises(ConfigError, match="adaptation.lora_top"):
        Config(task="ser", model="tiny.en", window=2.0,
               adaptation=Adaptation("lora", 4, lora_top=5))
    with pytest.raises(ConfigError, match="adaptation.lora_top"):
        Config(task="asr", model="tiny.en", adaptation=TOP1)


def test_frozen_prefix_arithmetic():
    assert lora_layers(TOP1, 4) == [0, 0, 0, 4]
    assert frozen_prefix(TOP1, 4) == 3
    assert frozen_prefix(Adaptation(method="lora", rank=4, lora_top=3, unfreeze_top=1), 4) == 1
    assert frozen_prefix(Adaptation(unfreeze_top=2), 4) == 2
    assert frozen_prefix(Adaptation("lora", 4), 4) == 0
    assert frozen_prefix(Adaptation("dama", 8), 4) == 0        # DAMA adapts the first layer
    assert frozen_prefix(Adaptation(), 4) == 4


def test_peft_adapts_only_the_top_layers(tiny_whisper):
    encoder, _, _ = load_encoder(str(tiny_whisper))
    apply_adaptation(encoder, Adaptation(method="lora", rank=2, lora_top=2))
    trained = {n.split(".")[1] for n, p in encoder.named_parameters() if p.requires_grad}
    assert trained == {"2", "3"}


@pytest.mark.parametrize("stride,at,pool", [(1, "output", "mean"), (2, 1, "mean"),
                                            (4, 0, "attn")])
def test_encode_from_a_prefix_equals_the_whole_pass(tiny_whisper, stride, at, pool):
    encoder, _, _ = load_encoder(str(tiny_whisper))
    mel = torch.randn(2, 80, 200, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = encode_layers(encoder, mel, stride, at, pool)
        for j in (1, 2, 3):
            head = encode_layers(encoder, mel, stride, at, pool, stop=j)
            assert len(head) == j + 1
            for a, b in zip(head, full):
                assert torch.equal(a, b)
            rest = encode_layers_from(encoder, full[j], j)
            assert len(rest) == len(full) - j - 1
            for a, b in zip(rest, full[j + 1:]):
                assert torch.allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match="stop"):
        encode_layers(encoder, mel, 2, 3, "mean", stop=2)  # the stride would come after


@pytest.mark.parametrize("adaptation,kw", [
    (TOP1, {}), (Adaptation(method="lora", rank=4, lora_top=2), {"stride": 2, "stride_at": 1}),
    (Adaptation(unfreeze_top=1), {"stride": 4, "stride_at": 0, "pool": "attn"})])
@pytest.mark.parametrize("head", ["mlp", "linear"])
def test_prefix_training_flops_analytic_equals_measured(adaptation, kw, head):
    c = Config(task="ser", model="tiny.en", window=2.0, adaptation=adaptation, **kw)
    j = frozen_prefix(adaptation, 4)
    a = per_clip_training(c, 6, head=head, cached_prefix=j)
    m = measure_training(c, 6, head=head, cached_prefix=j)

    def part(r, once):
        return sum(v for k, v in r.breakdown.items() if k.startswith("features.") == once)
    assert part(a, True) == pytest.approx(part(m, True), rel=1e-9)     # the frozen pass to j
    assert part(a, False) == pytest.approx(part(m, False), rel=1e-9)   # one step from layer j
    whole = per_clip_training(c, 6, head=head)
    assert part(a, False) + part(a, True) == pytest.approx(whole.total - (  # the same step
        whole.breakdown.get("forward.head.layer_sum", 0) + whole.breakdown.get(
            "backward.head.layer_sum", 0) - a.breakdown.get("forward.head.layer_sum", 0)
        - a.breakdown.get("backward.head.layer_sum", 0)))
    t = training_flops(c, 10, 3, 6, head=head, cached_prefix=j)
    assert t.total == pytest.approx(10 * part(a, True) + 30 * part(a, False))


def test_cached_prefix_is_refused_where_it_would_be_wrong():
    c = Config(task="ser", model="tiny.en", window=2.0, adaptation=TOP1)
    with pytest.raises(ConfigError, match="cached_prefix"):
        per_clip_training(c, cached_prefix=4)          # layer 3 trains
    with pytest.raises(ConfigError, match="cached_prefix"):
        per_clip_training(c.with_(stride=2, stride_at="output"), cached_prefix=3)
    with pytest.raises(ConfigError, match="cached_prefix"):
        per_clip_training(c, pooling="attentive-stats", cached_prefix=3)
    opts = TrainOptions(train_crop="center", progress=False)
    assert prefix_layer(c, opts, True) == 3
    assert prefix_layer(c, TrainOptions(progress=False), True) == 0      # random crops
    assert prefix_layer(c, TrainOptions(train_crop="center", cache_prefix=False), True) == 0
    assert prefix_layer(c.with_(stride=2, stride_at="output"), opts, True) == 0
    assert prefix_layer(c, opts, False) == 0                                # wav2vec2 family
    assert prefix_blockers(c, opts, True) == []
    why = prefix_blockers(c.with_(stride=2, stride_at="output"), replace(opts,
                          pooling="attentive-stats"), False)
    assert len(why) == 3 and "'tiny.en' is not a Whisper encoder" in why[0]
    assert "pooling='attentive-stats'" in why[1] and "after layer 4" in why[2]


def test_a_prefix_that_cannot_be_cached_says_why(synthetic_manifest, tiny_whisper, recwarn):
    ds = load_dataset(synthetic_manifest)
    tr, va, _ = fold_splits(ds, 3, 0, 0)
    c = Config(task="ser", model="tiny.en", window=1.0, adaptation=TOP1)
    opts = TrainOptions(epochs=1, train_crop="center", progress=False)
    with pytest.warns(UserWarning, match=r"not cached \(the token stride acts after layer 4"):
        fit(c.with_(stride=2, stride_at="output"), ds, tr, va, opts, source=str(tiny_whisper))
    fit(c, ds, tr, va, opts, source=str(tiny_whisper))                   # cached: nothing to say
    fit(c, ds, tr, va, replace(opts, train_crop="random"), source=str(tiny_whisper))
    assert not [w for w in recwarn if "not cached" in str(w.message)]


@pytest.mark.parametrize("adaptation,head", [(TOP1, "mlp"), (Adaptation(unfreeze_top=1), "mlp"),
                                             (TOP1, "linear")])
def test_training_from_the_prefix_equals_training_through_the_backbone(
        synthetic_manifest, tiny_whisper, adaptation, head):
    ds = load_dataset(synthetic_manifest)
    tr, va, _ = fold_splits(ds, 3, 0, 0)
    config = Config(task="ser", model="tiny.en", window=1.0, adaptation=adaptation)
    kw = dict(head=head, epochs=3, backbone_lr=1e-2, train_crop="center", progress=False,
              head_init="probe" if head == "linear" else "random", probe_epochs=3)
    cached = fit(config, ds, tr, va, TrainOptions(**kw), source=str(tiny_whisper))
    plain = fit(config, ds, tr, va, TrainOptions(**kw, cache_prefix=False),
                source=str(tiny_whisper))
    assert cached.prefix == 3 and plain.prefix == 0
    runs = [(cached, plain)] + ([(cached.selection, plain.selection)] if head == "linear" else [])
    for a, b in runs:
        assert [h["loss"] for h in a.history] == pytest.approx([h["loss"] for h in b.history],
                                                              rel=1e-4, abs=1e-6)
        assert a.best_epoch == b.best_epoch
    trained = [n for n, p in cached.model.named_parameters() if p.requires_grad]
    pa, pb = dict(cached.model.named_parameters()), dict(plain.model.named_parameters())
    assert any(n.startswith("backbone.") for n in trained)
    for n in trained:
        assert torch.allclose(pa[n], pb[n], atol=1e-4), n
    # FLOPs: one frozen forward per clip it ran on, then each step from layer 3 only
    n = len(ds.labels)
    opts = TrainOptions(**kw)
    g_cached, g_plain = (fit_training_gflops(r, opts, n) for r in (cached, plain))
    assert g_cached < g_plain
    if head == "mlp":
        want = (feature_flops(config, n) * len(set(tr) | set(va)) + training_flops(
            config, cached.n_train, cached.epochs_run, n, cached_prefix=3,
            feature_clips=0).total) / 1e9
        assert g_cached == pytest.approx(want)
