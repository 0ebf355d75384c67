"""End to end on synthetic class-separable audio with tiny random backbones (wav2vec2, Whisper):
train, save, reload, identical predictions; the Task interface; DAMA through training."""
from __future__ import annotations

import json

import pytest
import torch

from speechbudget.axes import Adaptation, Config
from speechbudget.tasks.ser.data import load_dataset
from speechbudget.tasks.ser.api import evaluate, train
from speechbudget.tasks.ser.runner import SerTask
from speechbudget.tasks.ser.checkpoint import load_checkpoint
from speechbudget.tasks.ser.features import predict_logits, read_clips
from speechbudget.tasks.ser.options import TrainOptions

FAST = dict(epochs=15, lr=3e-3, backbone_lr=1e-3, dropout=0.1, progress=False)


@pytest.mark.parametrize("kind,model", [("w2v", "wav2vec2-base"), ("whisper", "tiny.en")])
def test_tiny_backbone_trains_saves_reloads(kind, model, synthetic_manifest, tiny_wav2vec2,
                                            tiny_whisper, tmp_path):
    source = str(tiny_wav2vec2 if kind == "w2v" else tiny_whisper)
    config = Config(task="ser", model=model, window=1.0)
    ds = load_dataset(synthetic_manifest)
    result = train(config, ds, tmp_path / "ck", TrainOptions(**FAST), source=source, folds=3)
    assert result.test.ua > 0.9, result.history
    assert result.val.ua > 0.9
    meta = json.loads((tmp_path / "ck" / "ser_config.json").read_text())
    assert Config.from_dict(meta["config"]) == config and meta["labels"] == list(ds.labels)
    assert not (tmp_path / "ck" / "backbone.safetensors").exists()  # frozen: nothing to store
    # reload: identical logits on the held-out clips
    clips = ds.subset(meta["test_ids"])
    audio, _ = read_clips(clips)
    before = predict_logits(result.model, clips, audio)
    model, _ = load_checkpoint(tmp_path / "ck")
    after = predict_logits(model, clips, audio)
    assert torch.equal(before, after)
    m, items = evaluate(tmp_path / "ck", ds, ids=meta["test_ids"])
    assert m.ua == pytest.approx(result.test.ua) and len(items) == len(clips)
    from speechbudget.flops import estimate
    assert m.inference_gflops == pytest.approx(estimate(config).gflops)
    assert result.test.train_gflops > 0


def test_dama_with_top_layer_trains_and_reloads_identically(synthetic_manifest, tiny_whisper,
                                                            tmp_path):
    config = Config(task="ser", model="tiny.en", window=1.0,
                    adaptation=Adaptation(method="dama", rank=4, unfreeze_top=1))
    ds = load_dataset(synthetic_manifest)
    opts = TrainOptions(**{**FAST, "epochs": 4})
    result = train(config, ds, tmp_path / "ck", opts, source=str(tiny_whisper), folds=3)
    assert result.test.ua > 0.9
    enc = result.model.backbone.encoder
    assert enc.layers[0].self_attn.q_proj.lora_A["default"].weight.shape[0] == 4
    assert (tmp_path / "ck" / "backbone.safetensors").exists()
    clips = ds.subset(json.loads((tmp_path / "ck" / "ser_config.json").read_text())["test_ids"])
    audio, _ = read_clips(clips)
    model, _ = load_checkpoint(tmp_path / "ck")
    assert torch.equal(predict_logits(result.model, clips, audio), predict_logits(model, clips, audio))
    # the reloaded PiSSA residual weights are the trained model's, not the pretrained ones
    w = lambda m: m.backbone.encoder.layers[0].self_attn.q_proj.base_layer.weight  # noqa: E731
    assert torch.equal(w(result.model), w(model))


def test_training_is_deterministic(synthetic_manifest, tiny_wav2vec2, tmp_path):
    config = Config(task="ser", model="wav2vec2-base", window=1.0,
                    adaptation=Adaptation(method="lora", rank=2))
    opts = TrainOptions(**{**FAST, "epochs": 2})
    a = train(config, synthetic_manifest, tmp_path / "a", opts, source=str(tiny_wav2vec2), folds=3)
    b = train(config, synthetic_manifest, tmp_path / "b", opts, source=str(tiny_wav2vec2), folds=3)
    assert a.history == b.history
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_task_interface_folds_cover_every_clip_once(synthetic_manifest, tiny_wav2vec2):
    task = SerTask(folds=3, epochs=20, lr=3e-3, dropout=0.1, source=str(tiny_wav2vec2))
    config = Config(task="ser", model="wav2vec2-base", window=1.0)
    ds = task.load_dataset(str(synthetic_manifest))
    shards = task.shards(config, ds)
    assert [s.shard_id for s in shards] == [s.shard_id for s in task.shards(config, ds)]
    cache: dict = {}
    results = [r for s in shards for r in task.run_shard(config, ds, s, "cpu", cache)]
    assert sorted(r.item_id for r in results) == sorted(c.id for c in ds.items)
    assert all(r.ok and r.errors == int(r.prediction != r.reference) for r in results)
    m = task.aggregate(config, results)
    assert m.metric == "ua" and m.value > 0.9 and m.n_items == 72 and m.n_failed == 0
    assert m.ci_low <= m.value <= m.ci_high
    assert sum(map(sum, m.extra["confusion"])) == 72


def test_failed_fold_is_recorded_per_item(synthetic_manifest, tmp_path):
    task = SerTask(folds=3, epochs=1, source=str(tmp_path / "no_such_model"))
    config = Config(task="ser", model="wav2vec2-base", window=1.0)
    ds = task.load_dataset(str(synthetic_manifest))
    shard = task.shards(config, ds)[0]
    res = task.run_shard(config, ds, shard, "cpu")
    assert len(res) == len(shard.item_ids) and not any(r.ok for r in res)
    assert "no_such_model" in res[0].error
    assert task.aggregate(config, res).n_failed == len(res)


def test_frozen_encoder_cache_is_owned_by_the_task(synthetic_manifest, tiny_wav2vec2):
    """SerTask keeps its frozen encoders (no module global): reused across its folds, not shared
    with another task."""
    config = Config(task="ser", model="wav2vec2-base", window=1.0)
    a = SerTask(folds=3, epochs=1, source=str(tiny_wav2vec2))
    b = SerTask(folds=3, epochs=1, source=str(tiny_wav2vec2))
    ds = a.load_dataset(str(synthetic_manifest))
    shards = a.shards(config, ds)
    a.run_shard(config, ds, shards[0], "cpu")
    enc = a.encoders[(str(tiny_wav2vec2), "cpu")][0]
    a.run_shard(config, ds, shards[1], "cpu")
    assert a.encoders[(str(tiny_wav2vec2), "cpu")][0] is enc and len(a.encoders) == 1
    b.run_shard(config, ds, shards[0], "cpu")
    assert b.encoders[(str(tiny_wav2vec2), "cpu")][0] is not enc
