"""Stored items the paired tests cannot compare are refused where a store is read
(analysis.source.load_results), once, with one message that `recommend` and `report` both
print (exit 4)."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.analysis.source import check_pairable, load_results
from speechbudget.axes import Config
from speechbudget.cli import app
from speechbudget.paired import PairingError
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.sweep.store import StoreError

runner = CliRunner()
WORDS = [12, 9, 15, 20, 7, 11]


def rows(errors, words=WORDS):
    return [(f"u{i}", e, n) for i, (e, n) in enumerate(zip(errors, words))]


@pytest.fixture
def changed_store(tmp_path, item_store):
    """Three configurations; the dearest scored u3 against 21 reference words, the others 20."""
    moved = list(WORDS)
    moved[3] += 1
    return item_store(tmp_path / "runs.db", [(10, 10.0, rows([2, 1, 3, 2, 1, 2])),
                                             (20, 20.0, rows([1, 1, 2, 2, 1, 1])),
                                             (30, 30.0, rows([1, 0, 2, 1, 1, 1], moved))])


def test_load_results_refuses_an_item_with_two_reference_counts(changed_store):
    # before: load_results returned, and the PairingError came out of whichever analysis
    # paired the two first (recommend and report each turned it into a StoreError themselves)
    with pytest.raises(StoreError) as e:
        load_results(changed_store)
    msg = str(e.value)
    assert str(changed_store) in msg and "item u3" in msg
    assert "20 reference units under one configuration" in msg and "21 under the other" in msg
    assert "tiny.en 10s" in msg and "tiny.en 30s" in msg   # both configurations named


def test_check_pairable_names_a_scored_item_without_counts():
    c = Config(task="asr", model="tiny.en", window=30.0)
    m = ConfigMetrics(c.key, "asr", "wer", 0.1, n_items=1)
    with pytest.raises(PairingError, match=f"configuration {c.key}: item u0: .*n_ref=None"):
        check_pairable([(c, m)], {c.key: [ItemResult("u0", True, errors=1, n_ref=None)]})
    # a failed item carries no counts, and SER items are compared by label
    check_pairable([(c, m)], {c.key: [ItemResult("u0", False, error="x.wav: unreadable")]})


def test_one_store_error_for_recommend_and_report(changed_store, tmp_path):
    out = {}
    for name, args in [("recommend", ["recommend", str(changed_store)]),
                       ("limited", ["recommend", str(changed_store), "--max-gflops", "15"]),
                       ("report", ["report", str(changed_store), "-o", str(tmp_path / "r"),
                                   "--no-progress", "--bootstrap", "0", "--static"])]:
        r = runner.invoke(app, args)
        assert r.exit_code == 4, (name, r.output)
        out[name] = r.output.strip()
    # one message from one place: the same line whichever command read the store, even when
    # the limits leave out one of the two configurations (the store is inconsistent either way)
    assert out["recommend"] == out["report"] == out["limited"]
    assert out["report"].startswith(f"error: {changed_store}: item u3:")
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_the_same_counts_under_every_configuration_load(tmp_path, item_store):
    path = item_store(tmp_path / "ok.db", [(10, 10.0, rows([2, 1, 3, 2, 1, 2])),
                                           (30, 30.0, rows([1, 0, 2, 1, 1, 1]))])
    loaded = load_results(path)
    assert len(loaded.results) == 2 and all(len(v) == len(WORDS) for v in loaded.items.values())
