"""A task that changes how it computes some configurations raises their `result_version`; a
store holding results of the older rule is then not resumed into a mix of both. It was: SER
pool attn results stored before 59db9fa (an older token rule) counted as done on resume, and
the new ones were added beside them (shown by: `sweep run` of the same spec on such a store,
which ran nothing for them). Now the run stops with a StoreError naming the configuration and
--recompute-stale, which discards and recomputes only those configurations; results of a rule
that did not change (version 1, never written into a store) stay usable."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.axes import Config
from speechbudget.cli import app
from speechbudget.sweep import ResultsStore, StoreError, run_sweep
from tests.sweep.conftest import HERE

VERSIONED = f"{HERE / 'fake_task.py'}:VersionedFakeTask"
AXES = {"window": [30, 10], "stride": [1]}


def _spec(write_spec, runner):
    return write_spec("v", runner=runner, models=["tiny.en"], axes=AXES, plan="grid")


def _items_by_window(db):
    with ResultsStore(db, readonly=True) as st:
        return {c["config"].window: [(r.item_id, r.extra.get("rule")) for r in st.items(c["key"])]
                for c in st.configs()}, {c["config"].window: c["key"] for c in st.configs()}


def test_an_unchanged_rule_keeps_a_store_without_versions_usable(write_spec, tmp_path,
                                                                 monkeypatch):
    """Rule 1 is never written into the stored context, so a store written before versions
    existed (the same context) resumes with nothing run."""
    import json
    import sqlite3
    db = tmp_path / "r.db"
    monkeypatch.delenv("FAKE_RESULT_VERSION", raising=False)
    spec = _spec(write_spec, VERSIONED)
    run_sweep(spec, db, progress=False, allow_runner=True)
    con = sqlite3.connect(db)
    contexts = [json.loads(x) for x, in con.execute("SELECT context_json FROM configs")]
    con.close()
    assert len(contexts) == 2 and not any("result_version" in c for c in contexts)
    again = run_sweep(spec, db, progress=False, allow_runner=True)
    assert again.shards_run == 0 and again.reused == 2


def test_a_changed_rule_is_refused_then_recomputed_on_request(write_spec, tmp_path,
                                                              monkeypatch):
    db = tmp_path / "r.db"
    spec = _spec(write_spec, VERSIONED)
    monkeypatch.setenv("FAKE_RESULT_VERSION", "1")
    run_sweep(spec, db, progress=False, allow_runner=True)
    before, keys = _items_by_window(db)
    assert {rule for _, rule in before[10]} == {1}
    monkeypatch.setenv("FAKE_RESULT_VERSION", "2")
    with pytest.raises(StoreError, match=r"tiny\.en.* is stored with results of rule 1 of task "
                                         r"asr.*by rule 2.*--recompute-stale") as e:
        run_sweep(spec, db, progress=False, allow_runner=True)
    assert e.value.exit_code == 4
    assert _items_by_window(db)[0] == before             # nothing changed in the store
    assert ResultsStore(db, readonly=True).runs()[-1]["status"] == "failed"
    again = run_sweep(spec, db, progress=False, allow_runner=True, recompute_stale=True)
    after, _ = _items_by_window(db)
    assert after[30] == before[30]                      # its rule did not change: kept
    assert [i for i, _ in after[10]] == [i for i, _ in before[10]]
    assert {rule for _, rule in after[10]} == {2}       # recomputed by the new rule only
    with ResultsStore(db, readonly=True) as st:
        n_shards = len(st.shard_status(keys[10]))
        assert {c.key for c, _ in st.metrics()} == set(keys.values())
    assert again.shards_run == n_shards == 3 and again.reused == 1  # 6 items, batches of 2
    # the store now holds rule 2: resumed without the flag, nothing runs and nothing is refused
    done = run_sweep(spec, db, progress=False, allow_runner=True)
    assert done.shards_run == 0 and done.reused == 2


def test_sweep_run_says_how_to_recompute(write_spec, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    db = tmp_path / "r.db"
    spec = _spec(write_spec, VERSIONED)
    run_sweep(spec, db, progress=False, allow_runner=True)
    monkeypatch.setenv("FAKE_RESULT_VERSION", "3")
    args = ["sweep", "run", str(spec), str(db), "--allow-runner", "--no-progress"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 4 and "--recompute-stale" in " ".join(r.output.split()), r.output
    r = CliRunner().invoke(app, args + ["--recompute-stale"])
    assert r.exit_code == 0, r.output


def test_ser_attn_pool_with_a_stride_is_rule_2():
    from speechbudget.tasks.ser.runner import SerTask
    task = SerTask()
    attn = Config(task="ser", model="tiny", pool="attn", stride=2)
    assert task.result_version(attn) == 2
    for c in (Config(task="ser", model="tiny", pool="mean", stride=2),
              Config(task="ser", model="tiny", pool="attn", stride=1),
              Config(task="ser", model="tiny")):
        assert task.result_version(c) == 1
