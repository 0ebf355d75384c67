"""Config.key hashed the canonical JSON on every read; the store, the report and the analysis
read it in loops (17 103 times, 2.2 s of `speechbudget report` on a 324-configuration store).
A Config is frozen, so its key is computed once per value; a changed copy (with_, replace)
has its own, and no way of reaching a Config returns a stale key."""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import pickle

import pytest

from speechbudget.axes import Adaptation, Config


def _fresh(c: Config) -> str:
    return hashlib.sha1(c.to_json().encode()).hexdigest()[:16]


def _counting(monkeypatch) -> list[int]:
    calls = [0]
    to_json = Config.to_json

    def counted(self):
        calls[0] += 1
        return to_json(self)
    monkeypatch.setattr(Config, "to_json", counted)
    return calls


def test_key_is_computed_once(monkeypatch):
    c = Config(task="asr", model="tiny.en", window=10, stride=2)
    calls = _counting(monkeypatch)
    keys = {c.key for _ in range(50)}
    assert calls[0] == 1
    assert keys == {_fresh(c)}


def test_changed_copies_have_their_own_key():
    c = Config(task="asr", model="tiny.en", window=10)
    k = c.key
    for other in (c.with_(stride=2), dataclasses.replace(c, model="base"),
                  c.with_(adaptation=Adaptation(method="lora", rank=4))):
        assert other.key == _fresh(other) != k
    assert c.key == k == _fresh(c)


def test_copies_and_pickles_keep_the_right_key():
    c = Config(task="ser", model="base", window=4)
    k = c.key
    for other in (copy.copy(c), copy.deepcopy(c), pickle.loads(pickle.dumps(c)),
                  Config.from_json(c.to_json())):
        assert other == c and other.key == k == _fresh(other)
    assert hash(c) == hash(Config(task="ser", model="base", window=4))
    assert "key" not in c.to_dict() and "key" not in repr(c)


def test_a_config_cannot_be_changed_under_its_key():
    c = Config(task="asr", model="tiny.en")
    c.key
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.stride = 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.key = "0" * 16
    assert c.key == _fresh(c)
