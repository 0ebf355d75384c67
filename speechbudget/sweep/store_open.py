"""Opening a results store file: for writing (created, or brought up to this schema, in WAL
mode) or read-only (nothing written; a store in a folder this process cannot write is read as
it is when no write-ahead log holds results beside it; the -wal and -shm files that reading
makes beside the store are removed again when the reader is done: `ReaderConnection`). What
cannot be opened is a StoreError that says why in words."""
from __future__ import annotations

import os
import sqlite3
import weakref
from pathlib import Path

from speechbudget.sweep.store_guard import GuardedConnection, StoreError
from speechbudget.sweep.store_schema import check_stamp, check_tables, initialise


def open_store(path: Path, readonly: bool) -> GuardedConnection:
    """The connection to the results store `path`: checked (stamp, tables) and, for writing,
    created or upgraded; StoreError when it cannot be used."""
    if readonly and not path.exists():
        raise StoreError(f"{path}: no such results store")
    if path.exists() and not path.is_file():
        raise StoreError(f"{path}: not a results store (a folder, FIFO or device)")
    if not readonly:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"{path}: cannot create its folder ({e.strerror})") from None
    if readonly and path.stat().st_size == 0:
        raise StoreError(f"{path}: an empty file, not a results store")
    try:
        try:
            db = _connect(path, readonly)
        except sqlite3.OperationalError as e:
            if not (readonly and "unable to open" in str(e) and not _wal_left(path)):
                raise
            # a WAL store in a folder this process cannot write: SQLite cannot create the
            # -shm file it reads through. With no -wal file beside it everything is in the
            # file itself, which is then read as it is (immutable: no locks, no -shm).
            db = _connect(path, readonly, immutable=True)
    except sqlite3.DatabaseError as e:
        raise StoreError(_cannot_open(path, e, readonly)) from None
    # from here on a damaged page met by a query is a StoreError naming the store (exit 4)
    return ReaderConnection(db, path) if readonly else GuardedConnection(db, path)


class ReaderConnection(GuardedConnection):
    """A read-only store's connection. Reading a WAL store makes SQLite create the store's -wal
    and -shm files, which a read-only connection never removes: closing this one (or the
    process ending with it open) has them removed (`_tidy`)."""

    def __init__(self, con: sqlite3.Connection, path: Path):
        super().__init__(con, path)
        self._finalizer = weakref.finalize(self, _close_reader, con, path, os.getpid())

    def close(self) -> None:
        self._finalizer()


def _close_reader(con: sqlite3.Connection, path: Path, pid: int) -> None:
    if os.getpid() != pid:  # a forked child: the connection and the files are its parent's
        return
    con.close()
    _tidy(path)


def _connect(path: Path, readonly: bool, immutable: bool = False) -> sqlite3.Connection:
    """An SQLite connection to the store, checked; closed again when a check fails."""
    # a read-only URI from Path.as_uri(): '#', '?' and '%' in the path are escaped
    uri = path.resolve().as_uri() + "?mode=ro" + ("&immutable=1" if immutable else "") \
        if readonly else str(path)
    db = sqlite3.connect(uri, uri=readonly, timeout=60, isolation_level=None,
                         check_same_thread=False)
    try:
        db.execute("PRAGMA busy_timeout = 60000")
        if readonly:
            check_stamp(db, path)
            check_tables(db, path)
        else:
            initialise(db, path)
        db.execute("SELECT count(*) FROM configs").fetchone()
    except BaseException:
        db.close()
        raise
    return db


def _cannot_open(path: Path, e: sqlite3.DatabaseError, readonly: bool) -> str:
    """Why the store cannot be opened, in words: a store that is read-only (file, folder or
    file system) is not 'not a results store'."""
    name = path.name
    if "readonly database" in str(e):
        return (f"{path}: cannot write to this results store ({e}: a read-only file, "
                "folder or file system); `runs`, `report` and `recommend` can still read it")
    if "unable to open" in str(e) and readonly:
        return (f"{path}: cannot read this results store ({e}): its folder is "
                f"read-only and {name}-wal holds results not yet in the file; copy both "
                "files to a writable folder")
    if "unable to open" in str(e):
        return (f"{path}: cannot open this results store for writing ({e}): SQLite "
                f"creates {name}-wal and {name}-shm beside it, so its folder must be "
                "writable")
    return f"{path}: not a speechbudget results store ({e})"


def _wal_left(path: Path) -> bool:
    """A non-empty write-ahead log beside the store: results that are not in the file yet."""
    try:
        return Path(f"{path}-wal").stat().st_size > 0
    except OSError:
        return False


def _tidy(path: Path) -> None:
    """Remove the -wal and -shm files beside a store when no connection uses them and the -wal
    holds nothing, as SQLite does when a store's last connection closes but cannot do for a
    read-only one: a connection that may write opens the store, reads, and closes. SQLite then
    deletes both files only when it is the store's last connection (a live writer's or reader's
    stay) and checkpoints nothing (the -wal is empty): the store file is not written. A -wal
    that holds results not yet in the file is left for a writer. Best effort: left where it
    fails (a read-only folder or file)."""
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    try:
        if not (wal.exists() or shm.exists()) or Path(f"{path}-journal").exists() \
                or (wal.exists() and wal.stat().st_size > 0):
            return
        con = sqlite3.connect(str(path), timeout=1, isolation_level=None)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            con.close()
    except (OSError, sqlite3.Error):
        pass
