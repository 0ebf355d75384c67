"""Shard leases: how several runners (`sweep run` twice on one store) share a sweep's work. A
shard is claimed with a lease in a BEGIN IMMEDIATE transaction before it runs, renewed while it
runs, and released when it is stored; the lease of a runner that died expires after `lease_s`
seconds (at once when the runner was on this machine and its process is gone: the store's
`start_run` marks its run killed and drops its leases)."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from speechbudget.sweep.store_guard import transaction

DEFAULT_LEASE_S = 300.0


class ShardLeases:
    """ResultsStore's lease methods (its base class: they use the store's `db` and `path`)."""

    db: Any
    path: Path

    def claim_shard(self, key: str, shard_id: str, owner: str, run_id: int | None,
                    lease_s: float = DEFAULT_LEASE_S, retry_failed: bool = True,
                    retry_items: bool = False) -> bool:
        """Take the lease on a shard that is not stored yet (BEGIN IMMEDIATE: two runners
        never both get it). False when it is done (or failed and not retried) or another
        runner's lease on it has not expired. retry_items: a done shard may be claimed while
        it still holds a failed item (to run those items again, `merge_retried_items`)."""
        now = time.time()
        with transaction(self.db) as db:
            row = db.execute("SELECT status FROM shards WHERE config_key = ? AND shard_id = ?",
                             (key, shard_id)).fetchone()
            if row and row[0] == "done" and retry_items:
                if not db.execute("SELECT 1 FROM items WHERE config_key = ? AND shard_id = ? "
                                  "AND ok = 0 LIMIT 1", (key, shard_id)).fetchone():
                    return False  # another runner's retry fixed them meanwhile
            elif row and (row[0] == "done" or (row[0] == "failed" and not retry_failed)):
                return False
            lease = db.execute("SELECT owner, expires FROM leases WHERE config_key = ? AND "
                               "shard_id = ?", (key, shard_id)).fetchone()
            if lease and lease[0] != owner and lease[1] > now:
                return False
            db.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?)",
                       (key, shard_id, owner, run_id, now + lease_s))
            return True

    def hold_run(self, owner: str, run_id: int, lease_s: float = DEFAULT_LEASE_S) -> None:
        """The run's own lease (config_key '', shard_id 'run N'): renewed with its shard leases
        while its runner lives (`keep_leases`), released when it finishes. It is the run's
        heartbeat between shards, when it holds no shard lease (`ResultsStore.stale_runs`: a
        run killed on another machine, whose process cannot be looked up, is told by it)."""
        with transaction(self.db) as db:
            db.execute("INSERT OR REPLACE INTO leases VALUES ('', ?, ?, ?, ?)",
                       (f"run {run_id}", owner, run_id, time.time() + lease_s))

    def renew_leases(self, owner: str, lease_s: float = DEFAULT_LEASE_S) -> int:
        with transaction(self.db) as db:
            return db.execute("UPDATE leases SET expires = ? WHERE owner = ?",
                              (time.time() + lease_s, owner)).rowcount

    def release_leases(self, owner: str) -> None:
        with transaction(self.db) as db:
            db.execute("DELETE FROM leases WHERE owner = ?", (owner,))

    def keep_leases(self, owner: str, lease_s: float = DEFAULT_LEASE_S,
                    every_s: float | None = None):
        """Renew `owner`'s leases every `every_s` (default lease_s / 3) from a background thread
        with its own connection, until the returned function is called."""
        import threading
        stop = threading.Event()

        def loop() -> None:
            con = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
            try:
                while not stop.wait(every_s or lease_s / 3):
                    try:
                        con.execute("UPDATE leases SET expires = ? WHERE owner = ?",
                                    (time.time() + lease_s, owner))
                    except sqlite3.Error:
                        pass  # busy for a minute: the next beat tries again
            finally:
                con.close()
        t = threading.Thread(target=loop, name="speechbudget-leases", daemon=True)
        t.start()

        def stop_renewing() -> None:
            stop.set()
            t.join(timeout=5)
        return stop_renewing

    def leased_by_others(self, key: str, owner: str) -> set[str]:
        """Shards of `key` under another runner's unexpired lease."""
        return set(self.lease_holders(key, owner))

    def lease_holders(self, key: str, owner: str) -> dict[str, tuple[str, int | None, float]]:
        """Shards of `key` under another runner's unexpired lease: shard_id -> (its owner,
        HOST:PID:RUN:TAG; its run id; when the lease expires, epoch seconds)."""
        return {r[0]: (r[1], r[2], r[3]) for r in self.db.execute(
            "SELECT shard_id, owner, run_id, expires FROM leases WHERE config_key = ? AND "
            "owner != ? AND expires > ?", (key, owner, time.time()))}


def release_and_check_done(db: Any, key: str, shard_id: str, owner: str) -> bool:
    """Inside a write transaction: drop `owner`'s lease on the shard; True when another
    runner has stored the shard meanwhile (then this runner's result is not written)."""
    db.execute("DELETE FROM leases WHERE config_key = ? AND shard_id = ? AND owner = ?",
               (key, shard_id, owner))
    row = db.execute("SELECT status FROM shards WHERE config_key = ? AND shard_id = ?",
                     (key, shard_id)).fetchone()
    return bool(row and row[0] == "done")
