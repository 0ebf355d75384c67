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
from speechbudget.tasks.ser.runner import train
from speechbudget.tasks.ser.train import TrainOptions, fit, load_checkpoint, predict_logits, \
    read_clips


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
    # C chosen by actor-grouped cross-validation over the training + validation actors (best
    # pooled UA, ties by log-loss), then refitted on all of them
    tried = [h for h in result.history if "val_ua" in h]
    assert [h["C"] for h in tried] == list(opts.linear_c)
    assert result.history[-1]["C"] == min(tried, key=lambda h: (-h["val_ua"], h["val_logloss"],
                                                                 h["C"]))["C"]
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


def test_choose_c_pools_held_out_actors_and_breaks_ties_by_log_loss():
    """Every clip is predicted by a fit that never saw its actor; equal UA goes to the lower
    log-loss."""
    import numpy as np

    from speechbudget.tasks.ser.train import choose_c
    rng = np.random.default_rng(0)
    actors = [f"a{i}" for i in range(6) for _ in range(10)]
    y = ["angry", "sad"] * 30
    x = np.array([[1.0 if t == "angry" else -1.0] for t in y]) + rng.normal(0, 0.3, (60, 1))
    seen = []

    class Fixed:
        """Predicts the true class from the sign; probability of it grows with C."""
        def __init__(self, c, train_actors):
            self.c, self.classes_ = c, np.array(["angry", "sad"])
            self.train_actors = train_actors

        def predict(self, xs):
            return np.where(xs[:, 0] > 0, "angry", "sad")

        def predict_proba(self, xs):
            p = 0.5 + 0.4 * self.c / (1 + self.c)
            a = np.where(xs[:, 0] > 0, p, 1 - p)
            return np.stack([a, 1 - a], 1)

    def fit_one(c, xs, ys):
        rows = {tuple(r) for r in xs.tolist()}
        train_actors = {a for a, r in zip(actors, x.tolist()) if tuple(r) in rows}
        seen.append(train_actors)
        return Fixed(c, train_actors), len(xs)

    c, m, tried, rows = choose_c((0.1, 1.0, 10.0), x, y, actors, ["angry", "sad"], fit_one)
    assert len(seen) == 3 * 5 and all(len(s) == 4 or len(s) == 5 for s in seen)
    assert rows == sum(10 * len(s) for s in seen)          # every training row of every fit
    assert [t["val_ua"] for t in tried] == [m.ua] * 3      # equal UA for every C
    assert c == 10.0 and tried[2]["val_logloss"] < tried[0]["val_logloss"]
