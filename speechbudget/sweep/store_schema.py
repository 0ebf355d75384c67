"""The results store's schema: its tables, the stamp that marks a file as one, and bringing an
older store up to this schema.

Tables
  runs      one row per `sweep run` invocation: spec, start/finish, environment (CPU/GPU,
            threads, library versions, git commit), status (running, finished, interrupted:
            Ctrl-C; failed: stopped by an error, its message in reason; killed: its process
            died) and reason;
  configs   one row per configuration: key, JSON, task, estimated GFLOPs, the context it ran in
            (task implementation, options, dataset), status (pending/done/failed) and reason;
  shards    per configuration x shard: status (done/failed), attempts, reason, item ids;
  items     per configuration x item: every ItemResult field;
  metrics   per finished configuration: the ConfigMetrics.

  leases    per configuration x shard being computed: which runner holds it, until when.
  file_digests  a cache: the SHA-256 (16 hex digits) of each audio file a run read, by absolute
            path, with the file's stat signature (sweep.profile.file_digest), so the next run reads only files
            that changed (added to an older store when opened for writing; nothing depends on
            it: deleted, it is rebuilt).
  uncompared  racing: per run x round x pair of configurations that could not be compared
            (no item both scored, or only items without reference words), with why: neither
            stopped the other, which is why both may have survived (schema 3).

The file is stamped (PRAGMA application_id = APPLICATION_ID, user_version = SCHEMA_VERSION);
a non-empty file without the stamp (another tool's database, any other file) is refused and
never modified.

An older store (schema 1 or 2) is read as it is (what a later schema added reads as empty) and
brought up to SCHEMA_VERSION when it is opened for writing: new tables and columns
(ADDED_COLUMNS) are created, nothing stored is changed.
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from speechbudget.sweep.store_guard import StoreError, transaction

SCHEMA_VERSION = 3
APPLICATION_ID = 0x53504244  # "SPBD"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  run_id INTEGER PRIMARY KEY AUTOINCREMENT, spec_name TEXT, spec_digest TEXT, spec_json TEXT,
  started REAL NOT NULL, finished REAL, status TEXT NOT NULL, environment_json TEXT,
  reason TEXT);
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
CREATE TABLE IF NOT EXISTS file_digests (
  path TEXT PRIMARY KEY, signature TEXT NOT NULL, digest TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS uncompared (
  run_id INTEGER NOT NULL, round INTEGER NOT NULL, config_key TEXT NOT NULL, other_key TEXT
  NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (run_id, round, config_key, other_key));
"""
OUR_TABLES = {"meta", "runs", "configs", "shards", "items", "metrics"}
# columns added to a table after schema 2: (table, column, type), added to an older store
ADDED_COLUMNS = (("runs", "reason", "TEXT"),)


def columns(db: Any, table: str) -> set[str]:
    """The column names of `table` in the store of `db`."""
    return {r[1] for r in db.execute(f"PRAGMA table_info({table})").fetchall()}


def initialise(db: Any, path: Path) -> None:
    """Create or upgrade the store `path` open in `db`: check the stamp, create the tables and
    stamp the file in one write transaction, so that a second runner opening the same new file
    waits and then sees a complete, stamped store (never tables without the stamp). WAL mode is
    switched on only after the file is known to be ours (a foreign database is never modified)."""
    with transaction(db):
        fresh = db.execute("PRAGMA application_id").fetchone()[0] == 0 and not db.execute(
            "SELECT count(*) FROM sqlite_master").fetchone()[0]
        if not fresh:
            check_stamp(db, path)
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        for table, column, kind in ADDED_COLUMNS:
            if column not in columns(db, table):
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        # (an older store is brought up to this schema: the tables above that it lacks)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                   (str(SCHEMA_VERSION),))
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    # switching to WAL needs the file alone for a moment and does not wait for the busy
    # handler when another opener holds it: retry for as long as busy_timeout would wait
    deadline = time.monotonic() + 60
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    db.execute("PRAGMA synchronous = NORMAL")


def check_stamp(db: Any, path: Path) -> None:
    """Refuse an existing file that is not ours, before anything is written to it. A store
    written before the stamp existed (schema 1: our tables and meta.schema_version) is
    accepted (and stamped when opened for writing)."""
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if app_id == APPLICATION_ID:
        if version > SCHEMA_VERSION:
            raise StoreError(f"{path}: a results store of schema {version}, newer than "
                             f"this speechbudget's {SCHEMA_VERSION}; upgrade speechbudget")
        return
    tables = {r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    legacy = app_id == 0 and OUR_TABLES <= tables and db.execute(
        "SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)
    if not legacy:
        what = f"application_id {app_id:#x}" if app_id else "no speechbudget stamp"
        raise StoreError(f"{path}: not a speechbudget results store (an SQLite file "
                         f"with {what} and tables {', '.join(sorted(tables)) or 'none'}); "
                         "refusing to modify it: give a new or empty file")


def check_tables(db: Any, path: Path) -> None:
    """A stamped store missing one of its tables (damaged, or edited by hand) is refused on
    opening, not halfway through a command."""
    tables = {r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = sorted(OUR_TABLES - tables)
    if missing:
        raise StoreError(f"{path}: a damaged results store: no table "
                         f"{', '.join(missing)}")
