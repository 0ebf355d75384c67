"""A sweep with adapted ASR configurations trains each adapter once (cached by configuration,
model and training data in the task's folder), reuses it on resume and in another sweep, and
records its training FLOPs and wall time beside the inference FLOPs. Tiny random Whisper (the
loader patched), 4 utterances, 2 steps."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from speechbudget.sweep.spec import SpecError, load_spec
from speechbudget.tasks.asr import adapt as ad

from .conftest import build_tiny_whisper, tiny_bundle

SR = 16000


def _manifest(folder, name, texts=True):
    rows = []
    for i in range(4):
        t = np.arange(int((1.0 + 0.4 * i) * SR)) / SR
        sf.write(folder / f"{name}{i}.wav", (0.3 * np.sin(2 * np.pi * (170 + 80 * i) * t))
                 .astype(np.float32), SR, subtype="FLOAT")
        rows.append({"id": f"{name}{i}", "audio": f"{name}{i}.wav",
                     **({"text": f"w{3 + i} w9"} if texts else {})})
    path = folder / f"{name}.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def _spec(data, cache, adaptations, **opts):
    return {"name": "adapt", "task": "asr", "data": str(data),
            "task_options": {"batch_size": 4, "warmup": False, "adapter_cache": str(cache),
                             "adapt_batch_size": 4, **opts},
            "models": ["tiny.en"], "axes": {"window": [4], "stride": [2], "stride_at": [1],
                                            "adaptation": adaptations}}


@pytest.fixture
def counted(monkeypatch):
    import speechbudget.models.loading as loading
    bundle = tiny_bundle(build_tiny_whisper(seed=5))
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: bundle)
    calls = []
    real = ad.train_adapter

    def train(bundle, config, *a, **k):
        calls.append(config.key)
        return real(bundle, config, *a, **k)

    monkeypatch.setattr(ad, "train_adapter", train)
    return calls


DISTILL = [{"method": "lora", "rank": 2, "objective": "distill", "steps": 2},
           {"unfreeze_top": 1, "objective": "distill", "steps": 2}]


def test_each_adapter_trained_once_and_reused(tmp_path, counted):
    from speechbudget.sweep.run import run_sweep
    data = _manifest(tmp_path, "ev")
    cache = tmp_path / "adapters"
    spec = _spec(data, cache, DISTILL + ["none"])
    s = run_sweep(spec, tmp_path / "a.db", executor="local", progress=False, device="cpu")
    assert s.failed == 0 and s.finished == 3, s.failures
    assert len(counted) == 2 and len(set(counted)) == 2       # two adapters, each once
    assert len(list(cache.iterdir())) == 2
    by_label = {c.label: m for c, m in s.metrics}
    adapted = [m for c, m in s.metrics if c.adaptation.steps]
    for m in adapted:
        assert m.train_gflops > 0 and m.extra["train_wall_s"] > 0 and m.gflops > 0
        assert m.extra["adapter"]["steps"] == 2 and m.extra["adapter"]["items"] == 4
    stock = next(m for c, m in s.metrics if not c.adaptation.steps)
    assert stock.train_gflops is None and "adapter" not in stock.extra
    # resumed: nothing left to run, nothing trained
    again = run_sweep(spec, tmp_path / "a.db", executor="local", progress=False, device="cpu")
    assert again.finished == 3 and len(counted) == 2
    # another sweep (new store) with the same configurations, model and data: the cached
    # adapters are used, with the same training record
    other = run_sweep(spec, tmp_path / "b.db", executor="local", progress=False, device="cpu")
    assert other.failed == 0 and len(counted) == 2
    for c, m in other.metrics:
        assert m.train_gflops == by_label[c.label].train_gflops
        assert m.value == by_label[c.label].value
    # another learning rate is another adapter: trained again
    run_sweep(_spec(data, cache, DISTILL[:1], adapt_lr=5e-3), tmp_path / "c.db",
              executor="local", progress=False, device="cpu")
    assert len(counted) == 3 and len(list(cache.iterdir())) == 3


def test_supervised_needs_adapt_data_and_trains_on_it(tmp_path, counted):
    from speechbudget.sweep.run import run_sweep
    data = _manifest(tmp_path, "ev")
    sup = [{"method": "lora", "rank": 2, "steps": 2}]        # objective: supervised (default)
    s = run_sweep(_spec(data, tmp_path / "c", sup), tmp_path / "a.db", executor="local",
                  progress=False, device="cpu")
    assert s.failed == 1 and "adapt_data" in next(iter(s.failures.values())) and not counted
    s = run_sweep(_spec(data, tmp_path / "c", sup, adapt_data=str(data)), tmp_path / "b.db",
                  executor="local", progress=False, device="cpu")
    assert s.failed == 1 and "test transcripts" in next(iter(s.failures.values()))
    train = _manifest(tmp_path, "tr")
    s = run_sweep(_spec(data, tmp_path / "c", sup, adapt_data=str(train)), tmp_path / "c.db",
                  executor="local", progress=False, device="cpu")
    assert s.failed == 0 and len(counted) == 1
    (c, m), = s.metrics
    assert c.adaptation.label == "lora2+sup2" and m.train_gflops > 0


def test_spec_validates_adapt_options(tmp_path):
    data = _manifest(tmp_path, "ev", texts=True)
    spec = _spec(data, "rel/cache", DISTILL, adapt_data="ev.jsonl")
    (tmp_path / "s.json").write_text(json.dumps(spec))
    got = load_spec(tmp_path / "s.json")
    assert got.task_options["adapt_data"] == str(data.resolve())
    assert got.task_options["adapter_cache"] == str((tmp_path / "rel" / "cache").resolve())
    for bad, match in (({"adapt_data": "missing.jsonl"}, "adapt_data: missing.jsonl does not"),
                       ({"adapt_lr": 0}, "adapt_lr"), ({"adapt_batch_size": 0}, "adapt_batch"),
                       ({"adapt_lr": True}, "adapt_lr"), ({"adapt_data": 3}, "adapt_data")):
        (tmp_path / "s.json").write_text(json.dumps(_spec(data, "c", DISTILL, **bad)))
        with pytest.raises(SpecError, match=match):
            load_spec(tmp_path / "s.json")
