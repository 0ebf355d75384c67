"""Racing's pairs that could not be compared (no reference words, no item both scored) are
stored, so `runs show` can say why a configuration survived a race. They were only printed by
`sweep run` (shown by: a race on a manifest whose transcripts are all empty, then `runs show
STORE KEY`: nothing said the configuration had never been compared). A store written before
the table existed (schema 2) still opens, resumes and reports."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.sweep import ResultsStore, run_sweep
from speechbudget.sweep.store_schema import APPLICATION_ID, SCHEMA_VERSION

SPACE = {"models": ["tiny.en", "base.en"], "axes": {"window": [30, 10], "stride": [1]},
         "task_options": {"n_items": 20, "batch_size": 5}}
RACE = {"type": "grid", "race": {"first_items": 5, "growth": 2}}

# the schema-2 store exactly as speechbudget wrote it before the `uncompared` table
V2_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  run_id INTEGER PRIMARY KEY AUTOINCREMENT, spec_name TEXT, spec_digest TEXT, spec_json TEXT,
  started REAL NOT NULL, finished REAL, status TEXT NOT NULL, environment_json TEXT);
CREATE TABLE IF NOT EXISTS configs (
  key TEXT PRIMARY KEY, task TEXT NOT NULL, label TEXT, config_json TEXT NOT NULL,
  gflops REAL, context_json TEXT NOT NULL, context_digest TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending', reason TEXT, first_run INTEGER, last_run INTEGER,
  updated REAL);
CREATE TABLE IF NOT EXISTS shards (
  config_key TEXT NOT NULL, shard_id TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER
  NOT NULL DEFAULT 0, reason TEXT, item_ids_json TEXT, run_id INTEGER, finished REAL,
  PRIMARY KEY (config_key, shard_id));
CREATE TABLE IF NOT EXISTS items (
  config_key TEXT NOT NULL, item_id TEXT NOT NULL, shard_id TEXT NOT NULL, ok INTEGER NOT NULL,
  prediction TEXT, reference TEXT, errors INTEGER, n_ref INTEGER, decoded_tokens INTEGER,
  audio_s REAL, chunks INTEGER, gflops REAL, timings_json TEXT, error TEXT, extra_json TEXT,
  run_id INTEGER, PRIMARY KEY (config_key, item_id));
CREATE TABLE IF NOT EXISTS metrics (
  config_key TEXT PRIMARY KEY, task TEXT NOT NULL, metric TEXT NOT NULL, value REAL,
  error REAL, gflops REAL, rtf REAL, n_items INTEGER, n_failed INTEGER, metrics_json TEXT
  NOT NULL, run_id INTEGER, finished REAL);
CREATE TABLE IF NOT EXISTS leases (
  config_key TEXT NOT NULL, shard_id TEXT NOT NULL, owner TEXT NOT NULL, run_id INTEGER,
  expires REAL NOT NULL, PRIMARY KEY (config_key, shard_id));
"""
V2_TABLES = ("runs", "configs", "shards", "items", "metrics")


def _empty_references(folder: Path, bundled: Path) -> Path:
    """The first 20 bundled rows with every transcript cleared (no reference words)."""
    rows = [json.loads(x) for x in (bundled / "manifest.jsonl").read_text().splitlines()
            if x.strip()][:20]
    folder.mkdir()
    (folder / "manifest.jsonl").write_text(
        "".join(json.dumps({**r, "text": ""}) + "\n" for r in rows))
    return folder


def _v2_copy(src: Path, dst: Path) -> None:
    """A schema-2 store at `dst` (raw SQLite, as the old code wrote it) holding `src`'s rows."""
    con = sqlite3.connect(dst, isolation_level=None)
    con.executescript(V2_SCHEMA)
    con.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    con.execute("PRAGMA user_version = 2")
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("ATTACH DATABASE ? AS src", (str(src),))
    for t in V2_TABLES:
        cols = ", ".join(r[1] for r in con.execute(f"PRAGMA main.table_info({t})"))
        con.execute(f"INSERT INTO main.{t} ({cols}) SELECT {cols} FROM src.{t}")
    con.execute("DETACH DATABASE src")
    con.close()


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_a_race_stores_its_uncompared_pairs_and_runs_show_names_them(
        write_spec, tmp_path, bundled_librispeech, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    data = _empty_references(tmp_path / "empty", bundled_librispeech)
    db = tmp_path / "r.db"
    race = run_sweep(write_spec("race", plan=RACE, data=str(data), **SPACE), db,
                     progress=False, allow_runner=True)
    assert race.uncompared and not race.eliminated
    st = ResultsStore(db, readonly=True)
    rows = st.uncompared()
    assert len(rows) == len(race.uncompared)
    assert {r["run_id"] for r in rows} == {race.run_id}
    assert {r["round"] for r in rows} == {k[0] for k in race.uncompared}
    assert all("no reference words" in r["reason"] for r in rows)
    key = rows[0]["config_key"]
    assert st.uncompared(config_key=key) and st.uncompared(run_id=race.run_id + 1) == []
    r = CliRunner().invoke(app, ["runs", "show", str(db), key])
    assert r.exit_code == 0, r.output
    assert "not compared in racing with" in _flat(r.output)
    assert f"run {race.run_id}, round 1, with " in r.output and "no reference words" in r.output
    r = CliRunner().invoke(app, ["runs", "show", str(db), str(race.run_id)])
    assert r.exit_code == 0 and "racing_uncompared" in r.output


def test_a_schema_2_store_opens_resumes_and_reports(write_spec, tmp_path, bundled_librispeech,
                                                    monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    data = _empty_references(tmp_path / "empty", bundled_librispeech)
    spec = write_spec("race", plan=RACE, data=str(data), **SPACE)
    first = run_sweep(spec, tmp_path / "new.db", progress=False, allow_runner=True)
    old = tmp_path / "old.db"
    _v2_copy(tmp_path / "new.db", old)
    # read as it is (read-only: no migration), the pairs it never stored read as none
    st = ResultsStore(old, readonly=True)
    assert st.uncompared() == [] and len(st.metrics()) == len(first.metrics) == 4
    key = st.configs()[0]["key"]
    for args in (["runs", "list", str(old)], ["runs", "show", str(old)],
                 ["runs", "show", str(old), key], ["runs", "export", str(old), "--raw",
                                                   "-o", str(tmp_path / "raw")],
                 ["report", str(old), "-o", str(tmp_path / "rep"), "--static", "--bootstrap",
                  "0", "--no-progress"]):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 0, (args, r.output)
    st.close()
    # resumed: nothing recomputed; the store is brought up to the current schema
    again = run_sweep(spec, old, progress=False, allow_runner=True)
    assert again.shards_run == 0 and again.reused == 4
    con = sqlite3.connect(old)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    con.close()
    st = ResultsStore(old, readonly=True)
    assert {r["run_id"] for r in st.uncompared()} == {again.run_id}
    assert [c.key for c, _ in st.metrics()] == [c.key for c, _ in first.metrics]
