"""The regularised linear head (LogisticRegression on standardised, concatenated layer means):
same logits on the full and cached paths, fitted only on training actors, saved and reloaded,
FLOPs analytic = measured."""
from __future__ import annotations

import json

import pytest
import torch

from speechbudget.axes import Adaptation, Config
from speechbudget.tasks.ser.data import load_dataset
from speechbudget.tasks.ser.heads import SerHead
from speechbudget.tasks.ser.api import train
from speechbudget.tasks.ser.checkpoint import load_checkpoint
from speechbudget.tasks.ser.features import predict_logits, read_clips
from speechbudget.tasks.ser.options import TrainOptions
from speechbudget.tasks.ser.train import fit


def test_linear_head_full_and_cached_paths_agree():
    torch.manual_seed(0)
    head = SerHead(8, 3, 6, kind="linear").eval()
    assert head.layer_weights is None
    assert sum(p.numel() for p in head.parameters()) == 3 * 8 * 6 + 6
    hidden = torch.randn(3, 4, 10, 8) * 3 + 1
    mask = torch.ones(4, 10)
    mask[1, 5:] = 0
    m = mask[None, :, :, None]
    means = ((hidden * m).sum(2) / m.sum(2)).transpose(0, 1)
    head.set_normalisation(means)
    with torch.no_grad():
        assert torch.allclose(head(hidden, mask), head.forward_pooled(means), atol=1e-5)
    with pytest.raises(ValueError, match="pooling='mean'"):
        SerHead(8, 3, 6, pooling="attentive-stats", kind="linear")
    with pytest.raises(ValueError, match="head='tree'"):
        SerHead(8, 3, 6, kind="tree")


def test_linear_head_trains_reloads_and_matches_sklearn(synthetic_manifest, tiny_whisper,
                                                        tmp_path):
    config = Config(task="ser", model="tiny.en", window=1.0)
    ds = load_dataset(synthetic_manifest)
    opts = TrainOptions(head="linear", progress=False)
    result = train(config, ds, tmp_path / "ck", opts, source=str(tiny_whisper), folds=3)
    assert result.test.ua > 0.9
    # C chosen on the validation actors, then refitted on training + validation actors
    tried = [h for h in result.history if "val_ua" in h]
    assert [h["C"] for h in tried] == list(opts.linear_c)
    assert result.history[-1]["C"] == max(tried, key=lambda h: h["val_ua"])["C"]
    meta = json.loads((tmp_path / "ck" / "ser_config.json").read_text())
    assert meta["options"]["head"] == "linear"
    assert not set(meta["test_ids"]) & (set(meta["val_ids"]))
    clips = ds.subset(meta["test_ids"])
    audio, _ = read_clips(clips)
    model, _ = load_checkpoint(tmp_path / "ck")
    before, after = predict_logits(result.model, clips, audio), predict_logits(model, clips, audio)
    assert torch.equal(before, after)
    # an adapted backbone cannot take the linear head
    with pytest.raises(ValueError, match="head='linear'"):
        fit(Config(task="ser", model="tiny.en", window=1.0,
                   adaptation=Adaptation(method="lora", rank=2)), ds, meta["val_ids"],
            options=opts, source=str(tiny_whisper))


@pytest.mark.parametrize("kw", [dict(model="tiny.en", window=2.0),
                                dict(model="base", window=3.0, stride=2, stride_at=3),
                                dict(model="wav2vec2-base", window=1.0)])
def test_linear_head_flops_analytic_equals_measured(kw):
    from speechbudget.flops import estimate
    from speechbudget.tasks.ser.flops_check import measure_ser
    c = Config(task="ser", **kw)
    a, m = estimate(c, head="linear"), measure_ser(c, head="linear")
    assert a.total == m.total and a.breakdown == m.breakdown
    assert a.breakdown["head.classifier"] == 2 * (c.arch.encoder_layers + 1) * \
        c.arch.hidden_size * 6
