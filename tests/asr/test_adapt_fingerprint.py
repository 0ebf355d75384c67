"""The base model of an adapter is identified by its weights (adapter_files.model_fingerprint: a
hash of every tensor), so a different checkpoint under the same name or architecture neither
shares a cached adapter nor loads another's. Tiny random Whisper, 2 steps."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from speechbudget.axes import Config
from speechbudget.tasks.asr import adapt as ad
from speechbudget.tasks.asr.adapt_options import AdapterError
from speechbudget.tasks.asr.adapter_files import INFO_FILE, model_fingerprint
from speechbudget.tasks.asr import adapter_files as af
from speechbudget.tasks.asr.adapt_cache import AdapterCache
from speechbudget.tasks.asr.data import load_dataset

from .conftest import build_tiny_whisper, tiny_bundle, tone_rows



def _nudged(model):
    """`model` with one decoder weight changed: none of the tensors the old fingerprint read
    (conv1, the first encoder fc1, the token embedding)."""
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.model.decoder.layers[1].fc2.weight[0, 0] += 0.5
    return other


def test_fingerprint_is_the_weights():
    model = build_tiny_whisper(seed=5)
    assert model_fingerprint(model) == model_fingerprint(copy.deepcopy(model))
    assert model_fingerprint(model) != model_fingerprint(_nudged(model))
    buf = copy.deepcopy(model)
    with torch.no_grad():   # a frozen tensor is part of the weights too (positional table)
        buf.model.encoder.embed_positions.weight[3, 1] += 1.0
    assert model_fingerprint(model) != model_fingerprint(buf)


@pytest.fixture
def evaluated(tmp_path):
    rows = [{**r, "text": "w3 w4"}
            for r in tone_rows(tmp_path, "e", [1.0 + 0.3 * i for i in range(3)], 200)]
    (tmp_path / "ev.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return load_dataset(tmp_path / "ev.jsonl")


def test_another_checkpoint_under_the_same_name_misses_the_cache(tmp_path, evaluated,
                                                                  monkeypatch):
    trained = []
    real = ad.train_adapter
    monkeypatch.setattr(ad, "train_adapter",
                        lambda b, c, *a, **k: trained.append(b.source) or real(b, c, *a, **k))
    cfg = ad.distill_config(Config(task="asr", model="tiny.en", window=4, stride=2,
                                   stride_at=1), rank=2, steps=2)
    a = tiny_bundle(build_tiny_whisper(seed=5))
    b = tiny_bundle(_nudged(a.model))
    b.source = "other"
    cache = AdapterCache(tmp_path / "cache", batch_size=2)
    got_a = cache.get(a, cfg, evaluated, "cpu")
    assert cache.get(a, cfg, evaluated, "cpu").path == got_a.path and len(trained) == 1
    got_b = AdapterCache(tmp_path / "cache", batch_size=2).get(b, cfg, evaluated, "cpu")
    assert got_b.path != got_a.path and trained == ["tiny-random", "other"]
    with pytest.raises(AdapterError, match="another base model"):
        af.load_adapter(got_a.path, cfg, b.model)
    af.load_adapter(got_b.path, cfg, b.model)


def test_an_adapter_written_before_the_weights_hash_still_loads(tmp_path, evaluated):
    cfg = ad.distill_config(Config(task="asr", model="tiny.en", window=4, stride=2,
                                   stride_at=1), rank=2, steps=2)
    bundle = tiny_bundle(build_tiny_whisper(seed=5))
    got = AdapterCache(tmp_path / "cache", batch_size=2).get(bundle, cfg, evaluated, "cpu")
    info = json.loads((got.path / INFO_FILE).read_text())
    assert info["fingerprint_kind"] == af.FINGERPRINT_KIND
    del info["fingerprint_kind"]      # as written before it: the old fingerprint
    info["model_fingerprint"] = af.legacy_fingerprint(bundle.model)
    (got.path / INFO_FILE).write_text(json.dumps(info))
    af.load_adapter(got.path, cfg, bundle.model)
    info["fingerprint_kind"] = "weights-md5"
    (got.path / INFO_FILE).write_text(json.dumps(info))
    with pytest.raises(AdapterError, match="fingerprint_kind='weights-md5'"):
        af.load_adapter(got.path, cfg, bundle.model)
