"""Racing pairs each round's items through `paired.pair_items`, which refuses one item with two
references (the data changed between configurations). Racing passed no configuration names,
so the refusal could not say which two configurations disagreed, and it left `run_race` as a
bare PairingError (a ValueError: exit 70, "internal error"). The pairs are now named, and the
refusal is the store's (StoreError naming the store: exit 4)."""
from __future__ import annotations

import pytest

from speechbudget.axes import Config
from speechbudget.paired import PairingError
from speechbudget.records import ItemResult
from speechbudget.sweep import racing, run_sweep
from speechbudget.sweep.store_guard import StoreError


def clip(i: int, pred: str, ref: str) -> ItemResult:
    return ItemResult(f"c{i}", True, prediction=pred, reference=ref, errors=int(pred != ref),
                      n_ref=1)


def test_eliminations_name_the_two_configurations_of_a_relabelled_clip():
    a, b = (Config(task="ser", model="tiny.en", window=w) for w in (1.0, 2.0))
    items = {a.key: [clip(i, "ANG", "ANG") for i in range(4)],
             b.key: [clip(0, "ANG", "SAD")] + [clip(i, "ANG", "ANG") for i in range(1, 4)]}
    with pytest.raises(PairingError) as e:
        racing.eliminations([a, b], items, {a.key: 1.0, b.key: 2.0}, "ua", 0.05)
    assert a.label in str(e.value) and b.label in str(e.value), str(e.value)


def test_a_pairing_refusal_in_a_race_is_the_stores_error(write_spec, tmp_path, monkeypatch):
    spec = write_spec("race", plan={"type": "grid", "race": {"first_items": 10, "growth": 2}},
                      models=["tiny.en", "base.en"], axes={"window": [30, 10]},
                      task_options={"n_items": 40, "batch_size": 5})

    def refuse(*args, **kw):
        raise PairingError("item u0: 5 reference units under one configuration, 6 under the "
                           "other")
    monkeypatch.setattr(racing, "eliminations", refuse)
    with pytest.raises(StoreError) as e:
        run_sweep(spec, tmp_path / "r.db", progress=False, allow_runner=True)
    assert str(e.value).startswith(f"{tmp_path / 'r.db'}: item u0:"), str(e.value)
    assert e.value.exit_code == 4
