"""The SQLite connection of an open results store: its errors as StoreErrors naming the store
(`GuardedConnection`), and its write transactions (`transaction`)."""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from speechbudget.errors import EXIT_STORE, SpeechbudgetError


class StoreError(SpeechbudgetError, RuntimeError):
    """A store that cannot be used as asked (not a results store, conflicting contents)."""

    exit_code = EXIT_STORE


@contextmanager
def _guard(path: Path) -> Iterator[None]:
    """SQLite's errors on an open store (a damaged page, a full disk, a lock held past the busy
    timeout) as StoreErrors naming the store; the other subclasses (a constraint violated, a
    programming error) stay what they are."""
    try:
        yield
    except sqlite3.OperationalError as e:
        raise StoreError(f"{path}: {e}") from None
    except sqlite3.DatabaseError as e:
        if type(e) is not sqlite3.DatabaseError:
            raise
        raise StoreError(f"{path}: a damaged results store ({e}); `sqlite3 {path} .recover` "
                         "may save what it still holds") from None


class _GuardedCursor:
    """A cursor whose reads go through `_guard` (a damaged page can be met while iterating)."""

    def __init__(self, cur: sqlite3.Cursor, path: Path):
        self._cur, self._path = cur, path

    @property
    def description(self) -> Any:
        return self._cur.description

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cur.lastrowid

    def fetchone(self) -> Any:
        with _guard(self._path):
            return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        with _guard(self._path):
            return self._cur.fetchall()

    def __iter__(self) -> Iterator[Any]:
        while True:
            row = self.fetchone()
            if row is None:
                return
            yield row


class GuardedConnection:
    """The store's connection once it is open: execute / executemany through `_guard`."""

    def __init__(self, con: sqlite3.Connection, path: Path):
        self._con, self._path = con, path

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _GuardedCursor:
        with _guard(self._path):
            return _GuardedCursor(self._con.execute(sql, params), self._path)

    def executemany(self, sql: str, rows: Any) -> _GuardedCursor:
        with _guard(self._path):
            return _GuardedCursor(self._con.executemany(sql, rows), self._path)

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on this connection (begun and not yet ended)."""
        return self._con.in_transaction

    def close(self) -> None:
        self._con.close()


@contextmanager
def transaction(db: Any) -> Iterator[Any]:
    """A write transaction on `db` (BEGIN IMMEDIATE), rolled back when its block raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
