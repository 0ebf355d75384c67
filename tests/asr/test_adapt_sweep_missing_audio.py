"""A sweep's adapter training (tasks.asr.adapt_cache.AdapterCache) stopped on the first utterance
whose audio file was missing: every shard of every adapted configuration failed with that
AudioError, where the stock configuration recorded the one item as failed and `asr adapt` skips
it (tasks.asr.adapt.read_training_audio). The adapter now trains on the readable utterances."""
from __future__ import annotations

import json

from . import test_adapt_sweep as base

counted = base.counted   # the fixture: a tiny random Whisper, train_adapter counted


def test_a_missing_audio_file_does_not_fail_the_adapted_configuration(tmp_path, counted):
    from speechbudget.sweep.run import run_sweep
    data = base._manifest(tmp_path, "ev")
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    rows.insert(1, {"id": "gone", "audio": "gone.wav", "text": "w1 w2"})
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    spec = base._spec(data, tmp_path / "adapters", base.DISTILL[:1] + ["none"])
    s = run_sweep(spec, tmp_path / "a.db", executor="local", progress=False, device="cpu")
    assert s.failed == 0 and s.finished == 2, s.failures
    assert len(counted) == 1
    for c, m in s.metrics:
        assert m.n_failed == 1 and m.n_items == 4, c.label     # the gone item, as evaluation
    adapted = next(m for c, m in s.metrics if c.adaptation.steps)
    assert adapted.extra["adapter"]["items"] == 4
