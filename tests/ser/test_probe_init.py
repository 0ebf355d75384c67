"""LP-FT (head_init="probe"): the head starts from the frozen fit, the probe is early stopping's
epoch 0, its FLOPs count, and the linear head trains with the backbone (FLOPs: analytic =
measured)."""
from __future__ import annotations

import pytest
import torch

from speechbudget.axes import Adaptation, Config
from speechbudget.flops.training import feature_flops, per_clip_training, training_flops
from speechbudget.tasks.ser.data import load_dataset
from speechbudget.tasks.ser.flops_check import measure_training
from speechbudget.tasks.ser.metrics import fit_training_gflops
from speechbudget.tasks.ser.runner import fold_splits
from speechbudget.tasks.ser.options import TrainOptions
from speechbudget.tasks.ser.train import fit

LORA = Config(task="ser", model="tiny.en", window=1.0, adaptation=Adaptation(method="lora", rank=2))


def _split(manifest):
    ds = load_dataset(manifest)
    tr, va, _ = fold_splits(ds, 3, 0, 0)
    return ds, tr, va


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_probe_is_epoch_zero_and_kept_when_nothing_beats_it(synthetic_manifest, tiny_whisper,
                                                            head):
    ds, tr, va = _split(synthetic_manifest)
    # a learning rate too small to change anything: no epoch beats the probe on validation
    opts = TrainOptions(head=head, head_init="probe", epochs=2, probe_epochs=3, backbone_lr=1e-12,
                        refit=False, progress=False)
    res = fit(LORA, ds, tr, va, opts, source=str(tiny_whisper))
    assert res.probe is not None and res.probe.config.adaptation == Adaptation()
    assert res.probe.model is None and res.config == LORA  # the probe's model is dropped
    assert res.best_epoch == 0 and res.epochs_run == 2
    # the kept head is the probe's: the same as a frozen fit with the probe's options
    probe_opts = TrainOptions(head=head, epochs=3, refit=False, progress=False)
    frozen = fit(res.probe.config, ds, tr, va, probe_opts, source=str(tiny_whisper))
    probe_head = frozen.model.head.state_dict()
    for k, v in res.model.head.state_dict().items():
        assert torch.allclose(v, probe_head[k], atol=1e-6), k
    if head == "linear":  # the probe never trains on the validation clips
        assert res.probe.history[-1]["refit_rows"] == res.n_train
    # the probe's FLOPs are part of the training FLOPs; the frozen forward counts once per clip
    # it ran on: the probe's training and validation clips (the LoRA run's statistics reuse it)
    n = len(ds.labels)
    assert res.probe.feature_ids == frozenset(tr) | frozenset(va)
    assert res.feature_ids == frozenset(tr) and res.prefix == 0
    feats = feature_flops(LORA, n) * len(res.probe.feature_ids) / 1e9
    own = training_flops(LORA, res.n_train, res.epochs_run, n, head=head, feature_clips=0).gflops
    pr = training_flops(res.probe.config, res.n_train, res.probe.epochs_run, n,
                        head=head, feature_clips=0).gflops
    assert fit_training_gflops(res, opts, n) == pytest.approx(feats + own + pr)
    assert fit_training_gflops(res.probe, opts, n) == pytest.approx(feats + pr)


def test_refit_reruns_the_chosen_recipe_on_training_and_validation(synthetic_manifest,
                                                                   tiny_whisper):
    ds, tr, va = _split(synthetic_manifest)
    opts = TrainOptions(head="linear", head_init="probe", epochs=2, backbone_lr=1e-12,
                        progress=False)
    res = fit(LORA, ds, tr, va, opts, source=str(tiny_whisper))
    sel = res.selection
    assert sel is not None and sel.best_epoch == 0 and sel.n_train == res.n_train - len(va)
    # 0 epochs chosen: the model is the probe refitted with its chosen C on training + validation,
    # i.e. exactly the frozen linear head fitted on those clips with that C
    c = sel.probe.history[-1]["C"]
    assert res.best_epoch == 0 and res.epochs_run == 0 and res.probe.history[-1]["C"] == c
    frozen = fit(Config(task="ser", model="tiny.en", window=1.0), ds, list(tr) + list(va), (),
                 TrainOptions(head="linear", linear_c=(c,), progress=False),
                 source=str(tiny_whisper))
    assert torch.allclose(res.model.head.classifier.weight, frozen.model.head.classifier.weight)
    # every pass counts: refit (+ its probe) and the selection run (+ its probe)
    n = len(ds.labels)
    assert sel.model is None and sel.config == LORA
    parts = [(LORA, res), (res.probe.config, res.probe), (LORA, sel), (sel.probe.config, sel.probe)]
    want = sum(training_flops(cfg, r.n_train, r.epochs_run, n, head="linear",
                              feature_clips=0).gflops for cfg, r in parts)
    # one frozen forward per clip across the four runs (they share one feature cache)
    want += feature_flops(LORA, n) * len(set(tr) | set(va)) / 1e9
    assert fit_training_gflops(res, opts, n) == pytest.approx(want)


def test_probe_then_finetune_trains_and_is_seeded(synthetic_manifest, tiny_whisper):
    ds, tr, va = _split(synthetic_manifest)
    opts = TrainOptions(head="linear", head_init="probe", epochs=2, backbone_lr=1e-2,
                        progress=False)
    a = fit(LORA, ds, tr, va, opts, source=str(tiny_whisper))
    b = fit(LORA, ds, tr, va, opts, source=str(tiny_whisper))
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert [h["val_ua"] for h in a.history] == [h["val_ua"] for h in b.history]
    # without validation clips every epoch is kept: the backbone and the probed head did train
    c = fit(LORA, ds, tr, (), opts, source=str(tiny_whisper))
    assert c.best_epoch == 2 and c.probe is not None
    lora = [p for n, p in c.model.backbone.encoder.named_parameters() if "lora_B" in n]
    assert lora and any(p.abs().sum() > 0 for p in lora)
    c0 = fit(LORA, ds, tr, (), TrainOptions(head="linear", head_init="probe", epochs=2,
                                            backbone_lr=1e-12, progress=False),
             source=str(tiny_whisper))
    assert not torch.equal(c.model.head.classifier.weight, c0.model.head.classifier.weight)


def test_linear_head_without_probe_still_refused_on_a_training_backbone(synthetic_manifest,
                                                                         tiny_whisper):
    ds, tr, va = _split(synthetic_manifest)
    with pytest.raises(ValueError, match="head_init='probe'"):
        fit(LORA, ds, tr, va, TrainOptions(head="linear", progress=False),
            source=str(tiny_whisper))
    with pytest.raises(ValueError, match="head_init='warm'"):
        TrainOptions(head_init="warm")


@pytest.mark.parametrize("adaptation", [Adaptation(method="lora", rank=4),
                                        Adaptation(unfreeze_top=1)])
def test_linear_head_training_flops_analytic_equals_measured(adaptation):
    c = Config(task="ser", model="tiny.en", window=2.0, adaptation=adaptation)
    a = per_clip_training(c, 6, head="linear")
    m = measure_training(c, 6, head="linear")
    assert a.total == pytest.approx(m.total, rel=0.005), (a.total, m.total)


def test_lp_ft_decodes_each_clip_once_and_extracts_features_once(synthetic_manifest,
                                                                  tiny_whisper, monkeypatch):
    """Without a caller's stores, the probe, the selection run and the refit share fit's own."""
    import speechbudget.tasks.ser.features as features_mod
    from speechbudget.tasks.ser.backbone import Backbone

    ds, tr, va = _split(synthetic_manifest)
    decoded: list[str] = []
    real_read = features_mod.read_clip
    monkeypatch.setattr(features_mod, "read_clip", lambda c: decoded.append(c.id) or real_read(c))
    extracted: list[int] = []
    real_forward = Backbone.forward

    def counting_forward(self, waves, n_valid):
        if not torch.is_grad_enabled():  # feature extraction and evaluation, not training steps
            extracted.append(len(n_valid))
        return real_forward(self, waves, n_valid)
    monkeypatch.setattr(Backbone, "forward", counting_forward)
    opts = TrainOptions(head="linear", head_init="probe", epochs=1, backbone_lr=1e-12,
                        progress=False)
    res = fit(LORA, ds, tr, va, opts, source=str(tiny_whisper))
    assert res.selection is not None and res.best_epoch == 0
    assert sorted(decoded) == sorted(set(tr) | set(va))  # each clip decoded once
    # frozen features once per training/validation clip; then the adapted backbone scores the
    # validation clips at epoch 0 and after the one epoch, never again for the best epoch
    assert sum(extracted) == len(tr) + len(va) + 2 * len(va)
