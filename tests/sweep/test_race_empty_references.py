"""Racing on items whose references have no words (empty transcripts): such a pair of
configurations has no corpus WER to compare, so racing leaves it uncompared (neither stops the
other) and says why; paired_difference's ValueError used to escape run_race."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from speechbudget.records import ItemResult
from speechbudget.sweep import ResultsStore, run_sweep
from speechbudget.sweep.racing import eliminations, halving_drops, race_order, race_rounds

HERE = Path(__file__).resolve().parent

SPACE = {"models": ["tiny.en", "base.en", "small.en"],
         "axes": {"window": [30, 10], "stride": [1, 4]},
         "task_options": {"n_items": 40, "batch_size": 5}}


def _manifest(folder: Path, bundled: Path, empty) -> Path:
    """The first 40 bundled rows, with the text of the items `empty(ids)` selects cleared."""
    rows = [json.loads(x) for x in (bundled / "manifest.jsonl").read_text().splitlines()
            if x.strip()][:40]
    cleared = empty([r["id"] for r in rows])
    folder.mkdir()
    with open(folder / "manifest.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps({**r, "text": "" if r["id"] in cleared else r["text"]}) + "\n")
    return folder


def _first_round_items(folder: Path, first_items: int) -> set[str]:
    """The items of the race's first round (race order of the test double's shards)."""
    sys.path.insert(0, str(HERE))
    from fake_task import FakeTask
    task = FakeTask(n_items=40, batch_size=5)
    ds = task.load_dataset(str(folder))
    from speechbudget.axes import Config
    shards = race_order(task.shards(Config(task="asr", model="tiny.en"), ds))
    k = race_rounds([len(sh.item_ids) for sh in shards], first_items, 2)[0]
    return {i for sh in shards[:k] for i in sh.item_ids}


@pytest.mark.parametrize("rule", ["dominated", "best", "halving"])
def test_a_race_on_items_without_reference_words_compares_nothing_and_finishes(
        write_spec, tmp_path, bundled_librispeech, rule):
    data = _manifest(tmp_path / "empty", bundled_librispeech, lambda ids: set(ids))
    plan = {"type": "grid", "race": {"first_items": 10, "growth": 2, "rule": rule}}
    race = run_sweep(write_spec("race", plan=plan, data=str(data), **SPACE), tmp_path / "r.db",
                     progress=False, allow_runner=True)
    assert not race.eliminated and race.failed == 0
    assert race.finished == len(race.metrics) == 12
    assert race.uncompared, "the uncompared pairs are not recorded"
    assert all("no reference words" in why and "not compared" in why
               for why in race.uncompared.values())
    st = ResultsStore(tmp_path / "r.db", readonly=True)
    assert {r["status"] for r in st.configs()} == {"done"}


def test_a_round_of_empty_references_stops_nothing_and_later_rounds_race_on(
        write_spec, tmp_path, bundled_librispeech):
    """The first round's items have no words: nothing is compared there; the later rounds
    (items with words) eliminate as usual."""
    probe = _manifest(tmp_path / "probe", bundled_librispeech, lambda ids: set())
    first = _first_round_items(probe, 5)
    data = _manifest(tmp_path / "mixed", bundled_librispeech, lambda ids: first)
    plan = {"type": "grid", "race": {"first_items": 5, "growth": 2}}
    race = run_sweep(write_spec("race", plan=plan, data=str(data), **SPACE), tmp_path / "r.db",
                     progress=False, allow_runner=True)
    assert race.eliminated, "later rounds eliminate nothing"
    assert race.uncompared and {k[0] for k in race.uncompared} == {1}
    assert all("round 1" not in why for why in race.eliminated.values())


def _items(errors, n_ref):
    return [ItemResult(f"u{i}", True, errors=int(e), n_ref=int(n))
            for i, (e, n) in enumerate(zip(errors, n_ref))]


def test_eliminations_and_halving_leave_an_untestable_pair_alone():
    """Unit level: a pair sharing only zero-word items, or no scored item, is neither compared
    nor stopped; the reason is given."""
    from speechbudget.axes import Config
    a, b, c = (Config(task="asr", model="tiny.en", window=w) for w in (10, 20, 30))
    items = {a.key: _items([3, 4, 2], [0, 0, 0]), b.key: _items([0, 0, 0], [0, 0, 0]),
             c.key: [ItemResult(f"u{i}", False, error="boom") for i in range(3)]}
    cost = {a.key: 1.0, b.key: 1.0, c.key: 0.5}
    seen: dict = {}
    for rule in ("dominated", "best"):
        assert eliminations([a, b, c], items, cost, "wer", 0.5, tolerance=0.01, rule=rule,
                            uncompared=seen) == {}
    assert "no reference words" in seen[(a.key, b.key)]
    assert seen[(a.key, c.key)] == "no item scored by both"
    assert halving_drops([a, b, c], [a, b, c], items, cost, "wer", 10) == {}
    # a leader exists (one item with words), but the other shares only zero-word items with it
    items = {a.key: _items([1, 3], [5, 0]), b.key: [ItemResult("u1", True, errors=2, n_ref=0)]}
    out = halving_drops([a, b], [a, b], items, {a.key: 2.0, b.key: 1.0}, "wer", 10)
    assert set(out) <= {b.key}
    assert all("no reference words" in why for why in out.values())


def test_sweep_run_says_which_pairs_racing_could_not_compare(write_spec, tmp_path,
                                                             bundled_librispeech, monkeypatch):
    from typer.testing import CliRunner

    from speechbudget.cli import app
    monkeypatch.setenv("COLUMNS", "250")
    data = _manifest(tmp_path / "empty", bundled_librispeech, lambda ids: set(ids))
    plan = {"type": "grid", "race": {"first_items": 10, "growth": 2}}
    r = CliRunner().invoke(app, ["sweep", "run", str(write_spec("race", plan=plan,
                                                                 data=str(data), **SPACE)),
                                 str(tmp_path / "r.db"), "--allow-runner", "--no-progress"])
    assert r.exit_code == 0, r.output
    flat = " ".join(r.output.split())
    assert "pair(s) of configurations were not compared in a racing round, e.g. racing " \
           "round 1:" in flat and "no reference words" in flat
