"""The runs a results store records (ResultsStore's base class `RunLog`): each `sweep run` is a
row with its spec, environment and status; a run still marked running whose runner is gone is
told by `stale_runs` (this machine's process gone, or its own lease expired: `hold_run`) and
marked killed by the next `start_run` on this machine."""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any, Callable

from speechbudget.sweep.environment import process_alive
from speechbudget.sweep.store_guard import StoreError, transaction
from speechbudget.sweep.store_rows import json_object
from speechbudget.sweep.store_schema import columns


class RunLog:
    """ResultsStore's run methods (its base class: they use the store's `db`, `path`, `decoded`
    and `has_table`)."""

    db: Any
    path: Path
    decoded: Callable[..., Any]
    has_table: Callable[[str], bool]

    def start_run(self, spec: dict[str, Any], environment: dict[str, Any]) -> int:
        """Record a new run. Earlier runs of this machine still marked running whose process is
        gone (killed, crashed) are marked 'killed'."""
        with transaction(self.db) as db:
            _mark_dead_runs_killed(db)
            cur = db.execute(
                "INSERT INTO runs (spec_name, spec_digest, spec_json, started, status, "
                "environment_json) VALUES (?, ?, ?, ?, 'running', ?)",
                (spec.get("name"), spec.get("digest"), json.dumps(spec, default=str),
                 time.time(), json.dumps(environment, default=str)))
            return int(cur.lastrowid)

    def release_dead_runs(self) -> dict[int, dict[str, Any]]:
        """Runs of this machine still marked running whose process is gone (killed, crashed
        while this runner ran: `start_run` marks those gone before it), marked 'killed' now and
        their leases dropped, so that their shards can be taken over at once rather than after
        their leases expire. Returns run_id -> its environment (hostname, pid), {} when none."""
        if not _dead_runs(self.db):  # read first: a write transaction only when one is gone
            return {}
        with transaction(self.db) as db:
            return _mark_dead_runs_killed(db)

    def finish_run(self, run_id: int, status: str = "finished",
                   reason: str | None = None) -> None:
        """Close a run: finished, interrupted (Ctrl-C), or failed with `reason` (the error that
        stopped it)."""
        with transaction(self.db) as db:
            db.execute("UPDATE runs SET finished = ?, status = ?, reason = ? WHERE run_id = ?",
                       (time.time(), status, reason, run_id))

    def runs(self) -> list[dict[str, Any]]:
        """Every run: run_id, spec_name, spec_digest, started, finished, status, reason (None
        in a store written before runs had a reason)."""
        reason = "reason" if "reason" in columns(self.db, "runs") else "NULL"
        rows = self.db.execute(f"SELECT run_id, spec_name, spec_digest, started, finished, "
                               f"status, {reason} FROM runs ORDER BY run_id").fetchall()
        keys = ("run_id", "spec_name", "spec_digest", "started", "finished", "status", "reason")
        return [dict(zip(keys, r)) for r in rows]

    def stale_runs(self, now: float | None = None) -> dict[int, str]:
        """Runs still marked 'running' that the store can tell are not: run_id -> why. Read
        only (the next `start_run` marks those of this machine 'killed'). A run is stale when it
        was started on this machine and its process is gone, or when it holds leases and every
        one has expired (its runner renews them every lease_s / 3 while it lives: no heartbeat
        since then); a run holds its own lease from its start to its end (`hold_run`), so a run
        killed on another machine is told by it once it expires, between shards too. A run on
        another machine holding no lease (recorded before runs held one) cannot be told apart
        from a live one and is left out."""
        now = time.time() if now is None else now
        leases: dict[int, float] = {}
        if self.has_table("leases"):
            leases = {int(r): e for r, e in self.db.execute(
                "SELECT run_id, max(expires) FROM leases WHERE run_id IS NOT NULL "
                "GROUP BY run_id")}
        out: dict[int, str] = {}
        for run_id, env_json in self.db.execute("SELECT run_id, environment_json FROM runs "
                                                "WHERE status = 'running'").fetchall():
            why = []
            try:
                env = json_object(env_json)
                pid = int(env["pid"]) if env.get("hostname") == platform.node() \
                    and env.get("pid") else None
            except (ValueError, TypeError):  # unreadable: not known to be this machine's
                pid = None
            if pid is not None and not process_alive(pid):
                why.append(f"its process {pid} on this machine is gone")
            if run_id in leases and leases[run_id] < now:
                stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(leases[run_id]))
                why.append(f"no heartbeat: its leases expired at {stamp}")
            if why:
                out[int(run_id)] = "; ".join(why)
        return out

    def environment(self, run_id: int) -> dict[str, Any]:
        row = self.db.execute("SELECT environment_json FROM runs WHERE run_id = ?",
                              (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no run {run_id}")
        return self.decoded("runs", run_id, lambda: json_object(row[0]))

    def run_spec(self, run_id: int) -> dict[str, Any]:
        row = self.db.execute("SELECT spec_json FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no run {run_id}")
        return self.decoded("runs", run_id, lambda: json_object(row[0]))


def _dead_runs(db: Any) -> dict[int, dict[str, Any]]:
    """Runs marked running that were started on this machine by a process that is gone."""
    out = {}
    for run_id, env_json in db.execute("SELECT run_id, environment_json FROM runs WHERE "
                                       "status = 'running'").fetchall():
        try:
            env = json_object(env_json)
            pid = int(env["pid"]) if env.get("hostname") == platform.node() \
                and env.get("pid") else None
        except (ValueError, TypeError):  # unreadable: not known to be this machine's, left as is
            continue
        if pid is not None and not process_alive(pid):
            out[int(run_id)] = env
    return out


def _mark_dead_runs_killed(db: Any) -> dict[int, dict[str, Any]]:
    """Inside a write transaction: `_dead_runs` marked 'killed', their leases dropped."""
    dead = _dead_runs(db)
    for run_id in dead:
        db.execute("UPDATE runs SET status = 'killed' WHERE run_id = ?", (run_id,))
        db.execute("DELETE FROM leases WHERE run_id = ?", (run_id,))
    return dead
