"""The results store: one SQLite file (WAL mode) that survives a crash and lets a sweep resume.

A finished shard's items and its status are written in one transaction, so after a crash a
shard is either completely stored or not at all. Only a sweep's driver process writes; several
drivers (`sweep run` twice on one store) share the work through shard leases (sweep.store_leases:
claim_shard, keep_leases, ...).

Its tables, the stamp that marks a file as a store and the upgrade of an older store: see
sweep.store_schema; opening a file: sweep.store_open; its SQLite errors as StoreErrors:
sweep.store_guard; rows as ItemResult / ConfigMetrics: sweep.store_rows; the runs it records:
sweep.store_runs.
"""
from __future__ import annotations

import json
import time
from dataclasses import fields
from pathlib import Path
from typing import Any, Sequence

from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.sweep.store_audio import (audio_map_kept, audio_map_row, keep_audio_map,
                                             load_audio_map)
from speechbudget.sweep.store_data import check_data, context_difference, record_stored_audio
from speechbudget.sweep.store_guard import StoreError, transaction
from speechbudget.sweep.store_leases import ShardLeases, release_and_check_done
from speechbudget.sweep.store_open import open_store
from speechbudget.sweep.store_runs import RunLog
from speechbudget.sweep.store_rows import (ITEM_COLUMNS, item_from_row, item_row, json_object,
                                           metrics_from_dict)


class ResultsStore(RunLog, ShardLeases):
    """Read and write a sweep's results. Readers (analysis, report) use `metrics`, `items`,
    `runs`, `environment`, `configs`, `export_csv`, `export_parquet`."""

    def __init__(self, path: str | Path, readonly: bool = False):
        self.path = Path(path)
        self.db = open_store(self.path, readonly)
        self._item_audio_maps: dict[str, dict[str, str]] = {}  # item_audio's, by digest

    def decoded(self, table: str, key: Any, fn):
        """fn() decodes a stored value (JSON, a configuration); a value that does not decode is a
        StoreError naming the store, the table and the row, not a crash."""
        try:
            return fn()
        except (ValueError, TypeError, AttributeError, KeyError, RecursionError) as e:
            raise StoreError(f"{self.path}: {table} row {key}: a stored value cannot be read "
                             f"({type(e).__name__}: {' '.join(str(e).split())})") from None

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def journal_mode(self) -> str:
        return self.db.execute("PRAGMA journal_mode").fetchone()[0]

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _tx(self):
        return transaction(self.db)

    # ---- configurations -----------------------------------------------------------------------
    def register_config(self, config: Config, gflops: float | None, context: dict[str, Any],
                        run_id: int | None, recompute_stale: bool = False,
                        adopt: Sequence[str] = (),
                        audio: dict[str, str] | None = None) -> None:
        """Add a configuration (or check it matches what is stored). Raises StoreError when the
        same configuration was run here on other data or with other task options, or by another
        rule of its task (context["result_version"], 1 when absent: the driver's
        `result_version`); with `recompute_stale` a configuration that differs only in that has
        its stored shards, items and metrics deleted, to be computed again. adopt: context keys
        the caller has checked (`store_data.check_data`: the data's content, where column names
        and audio_root do not matter): differences in them alone are not refused, and the stored
        context is replaced by `context`. audio: this run's per-item audio map; given, the data
        check (`check_data`, which decides `context` and `adopt`; the `adopt` passed is not
        used) reads what is stored in this
        same write transaction, so a record another runner writes meanwhile (a result computed
        on an item's audio: `record_stored_audio`) is never replaced by one merged from what
        was stored before it."""
        with self._tx() as db:
            if audio is not None:
                context, adopt = check_data(self, config, context, audio)
            ctx_json = json.dumps(context, sort_keys=True, default=str)
            digest = _digest(ctx_json)
            row = db.execute("SELECT context_digest, context_json FROM configs WHERE key = ?",
                             (config.key,)).fetchone()
            if row is None:
                db.execute("INSERT INTO configs (key, task, label, config_json, gflops, "
                           "context_json, context_digest, status, first_run, last_run, updated) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                           (config.key, config.task, config.label, config.to_json(), gflops,
                            ctx_json, digest, run_id, run_id, time.time()))
                return
            if row[0] != digest:
                old = self.decoded("configs", config.key, lambda: json_object(row[1]))
                # keys the caller checked (adopt) are no difference; what else differs decides
                diff = sorted(k for k in set(old) | set(context)
                              if old.get(k) != context.get(k) and k not in adopt)
                if not diff:
                    db.execute("UPDATE configs SET context_json = ?, context_digest = ?, "
                               "last_run = ? WHERE key = ?",
                               (ctx_json, digest, run_id, config.key))
                    return
                if diff == ["result_version"]:
                    if not recompute_stale:
                        raise StoreError(_stale_message(self.path, config, old, context))
                    for table, col in (("items", "config_key"), ("shards", "config_key"),
                                       ("metrics", "config_key"), ("leases", "config_key")):
                        db.execute(f"DELETE FROM {table} WHERE {col} = ?", (config.key,))
                    db.execute("UPDATE configs SET context_json = ?, context_digest = ?, "
                               "status = 'pending', reason = NULL, gflops = ?, last_run = ?, "
                               "updated = ? WHERE key = ?",
                               (ctx_json, digest, gflops, run_id, time.time(), config.key))
                    return
                raise StoreError(
                    f"{self.path}: configuration {config.label} ({config.key}) is already stored "
                    f"with a different {context_difference(old, context, diff)}; use another "
                    "store for this sweep")
            db.execute("UPDATE configs SET last_run = ? WHERE key = ?", (run_id, config.key))

    def config_context(self, key: str) -> dict[str, Any] | None:
        """The context `key` is stored with (`register_config`), or None when not stored."""
        row = self.db.execute("SELECT context_json FROM configs WHERE key = ?",
                              (key,)).fetchone()
        return None if row is None else self.decoded("configs", key,
                                                      lambda: json_object(row[0]))

    def save_item_audio(self, digest: str, audio: dict[str, str]) -> None:
        """Keep the per-item audio map (`profile.item_audio`) whose digest a context's
        data_content names, once per store (meta table; as its difference from a map kept
        whole where that is small: sweep.store_audio), to tell later which item differs."""
        if self.db.in_transaction:  # the data check inside register_config's transaction
            keep_audio_map(self.db, digest, audio, self.item_audio)
        elif not audio_map_kept(self.db, digest):
            row = audio_map_row(self.db, digest, audio, self.item_audio)
            with self._tx() as db:
                if not audio_map_kept(db, digest):
                    db.execute("INSERT INTO meta VALUES (?, ?)", row)

    def item_audio(self, digest: str) -> dict[str, str] | None:
        """The per-item audio map saved under `digest` (`save_item_audio`), or None. A map is
        never changed once saved (its key is its digest), so each is decoded once per open
        store: a resume compares it for every configuration (store_data.check_data)."""
        return load_audio_map(self.db, digest, json_object,
                              lambda key, fn: self.decoded("meta", key, fn),
                              self._item_audio_maps)

    def file_digests(self) -> dict[str, tuple[str, str]]:
        """The audio digests remembered by file: path -> (signature, digest) (`file_digest`)."""
        if not self.has_table("file_digests"):
            return {}
        return {p: (sig, d) for p, sig, d in
                self.db.execute("SELECT path, signature, digest FROM file_digests")}

    def remember_file_digests(self, learned: dict[str, tuple[str, str]]) -> None:
        if learned:
            with self._tx() as db:
                db.executemany("INSERT OR REPLACE INTO file_digests VALUES (?, ?, ?)",
                               [(p, sig, d) for p, (sig, d) in sorted(learned.items())])

    def set_config_status(self, key: str, status: str, reason: str | None = None,
                          unless: Sequence[str] = ()) -> bool:
        """Set `key`'s status, unless its stored status (read in this write) is in `unless`:
        another runner's 'done' kept. Returns whether it was set."""
        with self._tx() as db:
            return db.execute("UPDATE configs SET status = ?, reason = ?, updated = ? WHERE key "
                              f"= ? AND status NOT IN ({', '.join('?' * len(unless))})",
                              (status, reason, time.time(), key, *unless)).rowcount > 0

    def configs(self, status: str | None = None, task: str | None = None) -> list[dict[str, Any]]:
        """Stored configurations: key, config (Config), label, task, gflops, status, reason."""
        q = "SELECT key, config_json, label, task, gflops, status, reason FROM configs"
        cond, args = [], []
        if status:
            cond.append("status = ?")
            args.append(status)
        if task:
            cond.append("task = ?")
            args.append(task)
        if cond:
            q += " WHERE " + " AND ".join(cond)
        out = []
        for key, cj, label, t, g, st, reason in self.db.execute(q + " ORDER BY rowid", args):
            config = self.decoded("configs", key, lambda: Config.from_json(cj))
            out.append({"key": key, "config": config, "label": label, "task": t,
                        "gflops": g, "status": st, "reason": reason})
        return out

    def result_versions(self) -> dict[str, int]:
        """key -> the rule of its task by which each stored configuration's results were
        computed (its context's result_version; 1 where none is written: the driver's
        `result_version`)."""
        out = {}
        for key, cj in self.db.execute("SELECT key, context_json FROM configs ORDER BY rowid"):
            ctx = self.decoded("configs", key, lambda cj=cj: json_object(cj))
            v = ctx.get("result_version", 1)
            out[key] = v if isinstance(v, int) and not isinstance(v, bool) else 1
        return out

    def config(self, key: str) -> Config:
        row = self.db.execute("SELECT config_json FROM configs WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no configuration {key}")
        return self.decoded("configs", key, lambda: Config.from_json(row[0]))

    # ---- shards and items -------------------------------------------------------------------
    def shard_status(self, key: str) -> dict[str, dict[str, Any]]:
        rows = self.db.execute("SELECT shard_id, status, attempts, reason FROM shards WHERE "
                               "config_key = ?", (key,)).fetchall()
        return {r[0]: {"status": r[1], "attempts": r[2], "reason": r[3]} for r in rows}

    def done_shards(self, key: str) -> set[str]:
        return {s for s, v in self.shard_status(key).items() if v["status"] == "done"}

    def failed_items(self, key: str) -> dict[str, set[str]]:
        """Items stored as failed (ok = 0) in the finished shards of `key`: shard id -> item
        ids. What `sweep run --retry-failed` runs again."""
        out: dict[str, set[str]] = {}
        for sid, iid in self.db.execute(
                "SELECT i.shard_id, i.item_id FROM items i JOIN shards s ON s.config_key = "
                "i.config_key AND s.shard_id = i.shard_id WHERE i.config_key = ? AND i.ok = 0 "
                "AND s.status = 'done'", (key,)):
            out.setdefault(sid, set()).add(iid)
        return out

    # ---- shards and items: storing results ---------------------------------------------------
    def commit_shard(self, key: str, shard_id: str, results: Sequence[ItemResult],
                     run_id: int | None, attempts: int = 1, owner: str | None = None,
                     audio: dict[str, str] | None = None) -> bool:
        """Store a finished shard's items and mark it done, atomically, and release its lease.
        With `owner`: a shard another runner stored meanwhile (this one's lease had expired) is
        left as it is, and False returned. An item already stored ok under another shard of
        `key` is never overwritten: its stored row is kept (and moved to this shard). audio:
        the run's per-item audio, recorded for the items stored (`record_stored_audio`)."""
        with self._tx() as db:
            if owner is not None and release_and_check_done(db, key, shard_id, owner):
                return False
            db.execute("DELETE FROM items WHERE config_key = ? AND shard_id = ?", (key, shard_id))
            # an item stored ok under another shard id (the task planned its shards otherwise
            # in an earlier run: `adopt_stored_shard`) keeps its stored result, moved here
            kept = _ok_elsewhere(db, key, shard_id, [r.item_id for r in results])
            db.executemany("UPDATE items SET shard_id = ? WHERE config_key = ? AND item_id = ?",
                           [(shard_id, key, iid) for iid in sorted(kept)])
            rows = [(key, shard_id, run_id, *item_row(r)) for r in results
                    if r.item_id not in kept]
            db.executemany(f"INSERT OR REPLACE INTO items (config_key, shard_id, run_id, "
                           f"{', '.join(ITEM_COLUMNS)}) VALUES "
                           f"({', '.join('?' * (3 + len(ITEM_COLUMNS)))})", rows)
            db.execute("INSERT OR REPLACE INTO shards (config_key, shard_id, status, attempts, "
                       "reason, item_ids_json, run_id, finished) VALUES (?, ?, 'done', ?, NULL, "
                       "?, ?, ?)", (key, shard_id, attempts,
                                    json.dumps([r.item_id for r in results]), run_id, time.time()))
            record_stored_audio(self, db, key, [r[3] for r in rows], audio, _digest)  # ids
        return True

    def adopt_stored_shard(self, key: str, shard_id: str, item_ids: Sequence[str],
                           run_id: int | None) -> bool:
        """Mark a shard done without running it when every one of its items already has a
        stored result of `key` under other shard ids (the task grouped the same items otherwise
        in an earlier run: an ASR shard's order follows the durations, and an unreadable file
        has none), moving those rows to it; False (nothing changed) when an item has none."""
        ids = list(dict.fromkeys(item_ids))
        if not ids:
            return False
        with self._tx() as db:
            have = {r[0] for r in db.execute("SELECT item_id FROM items WHERE config_key = ?",
                                             (key,))}
            if not have.issuperset(ids):
                return False
            db.executemany("UPDATE items SET shard_id = ? WHERE config_key = ? AND item_id = ?",
                           [(shard_id, key, iid) for iid in ids])
            db.execute("INSERT OR REPLACE INTO shards (config_key, shard_id, status, attempts, "
                       "reason, item_ids_json, run_id, finished) VALUES (?, ?, 'done', 0, NULL, "
                       "?, ?, ?)", (key, shard_id, json.dumps(list(item_ids)), run_id,
                                    time.time()))
        return True

    def stored_item_ids(self, key: str) -> set[str]:
        """Ids of the items of `key` with a stored result (ok or failed)."""
        return {r[0] for r in self.db.execute("SELECT item_id FROM items WHERE config_key = ?",
                                              (key,))}

    def merge_retried_items(self, key: str, shard_id: str, results: Sequence[ItemResult],
                            run_id: int | None, attempts: int = 1,
                            owner: str | None = None, audio: dict[str, str] | None = None) -> int:
        """Store the new results of a finished shard's failed items, atomically, and release
        the lease: a result replaces the stored row of its item only where that row failed
        (ok = 0); an item stored as ok is never overwritten, whatever the new result says.
        The shard stays done. Where a row is replaced, the configuration's stored metrics
        (aggregated from the old rows) are deleted in the same transaction and a finished
        configuration is 'pending' again, so a run killed before it aggregates again leaves
        no metrics that disagree with the items: the next run aggregates them. Returns how
        many rows were replaced. audio: as `commit_shard`'s, for the rows replaced."""
        replaced = []
        with self._tx() as db:
            if owner is not None:
                db.execute("DELETE FROM leases WHERE config_key = ? AND shard_id = ? AND "
                           "owner = ?", (key, shard_id, owner))
            for r in results:
                row = db.execute("SELECT ok, shard_id FROM items WHERE config_key = ? AND "
                                 "item_id = ?", (key, r.item_id)).fetchone()
                if row is None or row[0] or row[1] != shard_id:
                    continue  # not a failed item of this shard: left as stored
                # an UPDATE keeps the row's place (items are listed in rowid order)
                db.execute(f"UPDATE items SET run_id = ?, "
                           f"{', '.join(c + ' = ?' for c in ITEM_COLUMNS[1:])} "
                           "WHERE config_key = ? AND item_id = ?",
                           (run_id, *item_row(r)[1:], key, r.item_id))
                replaced.append(r.item_id)
            if replaced:
                record_stored_audio(self, db, key, replaced, audio, _digest)
                db.execute("DELETE FROM metrics WHERE config_key = ?", (key,))
                db.execute("UPDATE configs SET status = 'pending', updated = ? WHERE key = ? "
                           "AND status = 'done'", (time.time(), key))
            db.execute("UPDATE shards SET attempts = attempts + ?, run_id = ?, finished = ? "
                       "WHERE config_key = ? AND shard_id = ? AND status = 'done'",
                       (attempts, run_id, time.time(), key, shard_id))
        return len(replaced)

    def fail_shard(self, key: str, shard_id: str, reason: str, run_id: int | None,
                   attempts: int = 1, owner: str | None = None) -> None:
        with self._tx() as db:
            if owner is not None and release_and_check_done(db, key, shard_id, owner):
                return
            db.execute("INSERT OR REPLACE INTO shards (config_key, shard_id, status, attempts, "
                       "reason, item_ids_json, run_id, finished) VALUES (?, ?, 'failed', ?, ?, "
                       "NULL, ?, ?)", (key, shard_id, attempts, reason, run_id, time.time()))

    def items(self, config_key: str) -> list[ItemResult]:
        rows = self.db.execute(f"SELECT {', '.join(ITEM_COLUMNS)} FROM items WHERE config_key = ? "
                               "ORDER BY rowid", (config_key,)).fetchall()
        return [self.decoded("items", f"{config_key}/{r[0]}", lambda r=r: item_from_row(r))
                for r in rows]

    def n_items(self, config_key: str | None = None) -> int:
        if config_key is None:
            return self.db.execute("SELECT count(*) FROM items").fetchone()[0]
        return self.db.execute("SELECT count(*) FROM items WHERE config_key = ?",
                               (config_key,)).fetchone()[0]

    # ---- racing ------------------------------------------------------------------------------
    def add_uncompared(self, run_id: int | None, round_no: int,
                       pairs: dict[tuple[str, str], str]) -> None:
        """Record racing round `round_no`'s pairs of configurations (key, other key) -> why they
        could not be compared (neither stopped the other)."""
        if not pairs:
            return
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO uncompared VALUES (?, ?, ?, ?, ?)",
                           [(run_id, round_no, a, b, why) for (a, b), why in pairs.items()])

    def uncompared(self, config_key: str | None = None,
                   run_id: int | None = None) -> list[dict[str, Any]]:
        """Racing's pairs that could not be compared: run_id, round, config_key, other_key,
        reason; those of one run and/or involving one configuration (either side). Empty for a
        store written before schema 3 (it has no such table)."""
        if not self.has_table("uncompared"):
            return []
        q, cond, args = "SELECT run_id, round, config_key, other_key, reason FROM uncompared", \
            [], []
        if config_key is not None:
            cond.append("(config_key = ? OR other_key = ?)")
            args += [config_key, config_key]
        if run_id is not None:
            cond.append("run_id = ?")
            args.append(run_id)
        if cond:
            q += " WHERE " + " AND ".join(cond)
        keys = ("run_id", "round", "config_key", "other_key", "reason")
        return [dict(zip(keys, r)) for r in self.db.execute(q + " ORDER BY rowid", args)]

    def has_table(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                               (name,)).fetchone() is not None

    # ---- metrics ------------------------------------------------------------------------------
    def set_metrics(self, key: str, m: ConfigMetrics, run_id: int | None,
                    items: Sequence[ItemResult] | None = None) -> bool:
        """Store `key`'s metrics `m` and mark it done. items: the stored items `m` was
        aggregated from; where those stored now differ (another runner's `merge_retried_items`
        meanwhile) nothing is written and False returned: `m` is to be aggregated again."""
        with self._tx() as db:
            if items is not None and _rows(self.items(key)) != _rows(items):
                return False
            db.execute("INSERT OR REPLACE INTO metrics (config_key, task, metric, value, error, "
                       "gflops, rtf, n_items, n_failed, metrics_json, run_id, finished) VALUES "
                       "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (key, m.task, m.metric, m.value, m.error, m.gflops, m.rtf, m.n_items,
                        m.n_failed, json.dumps(m.to_dict(), default=str), run_id, time.time()))
            db.execute("UPDATE configs SET status = 'done', reason = NULL, updated = ? "
                       "WHERE key = ?", (time.time(), key))
        return True

    def metrics(self, task: str | None = None) -> list[tuple[Config, ConfigMetrics]]:
        """Finished configurations with their metrics, in the order they were first added."""
        q = ("SELECT c.key, c.config_json, m.metrics_json FROM metrics m JOIN configs c ON "
             "c.key = m.config_key WHERE c.status = 'done'")
        args: tuple[Any, ...] = ()
        if task:
            q += " AND m.task = ?"
            args = (task,)
        out = []
        for key, cj, mj in self.db.execute(q + " ORDER BY c.rowid", args):
            out.append((self.decoded("configs", key, lambda: Config.from_json(cj)),
                        self.decoded("metrics", key,
                                      lambda: metrics_from_dict(json_object(mj)))))
        return out

    def effective_gflops_per_s(self) -> float | None:
        """GFLOPs of stored ok items divided by their measured processing seconds."""
        num = den = 0.0
        for g, tj in self.db.execute("SELECT gflops, timings_json FROM items WHERE ok = 1 AND "
                                     "gflops IS NOT NULL LIMIT 20000"):
            try:
                t = sum(v for v in json.loads(tj or "{}").values()
                        if isinstance(v, (int, float)))
            except (ValueError, AttributeError):  # an unreadable timing: not counted
                continue
            if t > 0:
                num += g
                den += t
        return num / den if den > 0 and num > 0 else None

    # ---- export -------------------------------------------------------------------------------
    def to_pandas(self, table: str = "configs"):
        """A tidy DataFrame (configs, items or runs): see speechbudget.sweep.export."""
        from speechbudget.sweep.export import to_pandas
        return to_pandas(self, table)

    def tables(self) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
        """Every table as (columns, rows); metrics flattened (a column per ConfigMetrics field)."""
        out = {}
        for t in ("runs", "configs", "shards", "items"):  # (not leases: transient)
            cur = self.db.execute(f"SELECT * FROM {t}")
            out[t] = ([d[0] for d in cur.description], cur.fetchall())
        if self.uncompared():  # racing's uncompared pairs, where a race had any
            cur = self.db.execute("SELECT * FROM uncompared ORDER BY rowid")
            out["uncompared"] = ([d[0] for d in cur.description], cur.fetchall())
        mcols = [f.name for f in fields(ConfigMetrics)]
        cols = ["config_key", "label", *[c for c in mcols if c != "config_key"], "config_json"]
        rows = []
        for key, label, cj, mj in self.db.execute(
                "SELECT m.config_key, c.label, c.config_json, m.metrics_json FROM metrics m "
                "JOIN configs c ON c.key = m.config_key ORDER BY c.rowid"):
            d = self.decoded("metrics", key, lambda: json_object(mj))
            rows.append((key, label, *[_cell(d.get(c)) for c in mcols if c != "config_key"], cj))
        out["metrics"] = (cols, rows)
        return out

    def export_csv(self, out_dir: str | Path) -> list[Path]:
        """One CSV per table in `out_dir`: see speechbudget.sweep.export.export_raw_csv."""
        from speechbudget.sweep.export import export_raw_csv
        return export_raw_csv(self, out_dir)

    def export_parquet(self, out_dir: str | Path) -> list[Path]:
        """One Parquet file per table in `out_dir`: see sweep.export.export_raw_parquet."""
        from speechbudget.sweep.export import export_raw_parquet
        return export_raw_parquet(self, out_dir)


# ---- helpers ----------------------------------------------------------------------------------
def _stale_message(path: Path, config: Config, old: dict[str, Any],
                   new: dict[str, Any]) -> str:
    was, now = old.get("result_version", 1), new.get("result_version", 1)
    return (f"{path}: configuration {config.label} ({config.key}) is stored with results of "
            f"rule {was} of task {new.get('task')}, and this speechbudget computes it by rule "
            f"{now} (the task changed how it computes this configuration); resuming would mix "
            "both: pass --recompute-stale (run_sweep(recompute_stale=True)) to discard its "
            "stored results and compute them again, or use another store")


def _ok_elsewhere(db: Any, key: str, shard_id: str, item_ids: Sequence[str]) -> set[str]:
    """Those of `item_ids` stored ok for `key` under a shard id other than `shard_id`."""
    out: set[str] = set()
    ids = list(dict.fromkeys(item_ids))
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        out |= {r[0] for r in db.execute(
            f"SELECT item_id FROM items WHERE config_key = ? AND ok = 1 AND shard_id != ? AND "
            f"item_id IN ({', '.join('?' * len(part))})", (key, shard_id, *part))}
    return out


def _rows(items: Sequence[ItemResult]) -> dict[str, tuple[Any, ...]]:
    """Items as their stored rows, by id (rows compare equal where ItemResults holding a NaN
    from stored JSON would not)."""
    return {r.item_id: item_row(r) for r in items}


def _digest(s: str) -> str:
    import hashlib
    return hashlib.sha1(s.encode()).hexdigest()[:16]


def _cell(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, (dict, list)) else v
