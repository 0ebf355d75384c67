"""One error type per domain, each naming the file, line or field that is wrong, and the exit
code the command line reports for it (docs/security.md lists them).

    0   success
    1   it ran, but items or configurations failed (see the summary); `asr eval --allow-failures`
        and friends return 0 instead
    2   a bad command-line value or sweep file (ConfigError, SpecError, click usage errors)
    3   a dataset or recording that cannot be used (DatasetError, AudioError)
    4   a results store that cannot be used (StoreError)
    5   model weights that cannot be found or loaded (ModelLoadError, ModelFileError, ...)
    6   an output that cannot be written (OutputError)
    70  an unexpected internal error (the traceback is shown with --debug)
    130 interrupted (Ctrl-C)

This module sits below every other (it imports nothing of speechbudget).
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

EXIT_FAILURES = 1
EXIT_USAGE = 2
EXIT_DATA = 3
EXIT_STORE = 4
EXIT_MODEL = 5
EXIT_OUTPUT = 6
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


class SpeechbudgetError(Exception):
    """Base of the domain errors: the message is one line for the user."""

    exit_code = EXIT_USAGE


class DatasetError(SpeechbudgetError, ValueError):
    """A dataset (ASR or SER) that cannot be used: `path`, `line` and `field` name where, when
    known (and lead the message: "manifest.jsonl:3: audio: no such file")."""

    exit_code = EXIT_DATA

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None,
                 field: str | None = None):
        self.path, self.line, self.field = path, line, field
        where = "".join([f"{path}" if path is not None else "",
                         f":{line}" if line is not None else ""])
        parts = [p for p in (where, field) if p]
        super().__init__(": ".join(parts + [message]))


class OutputError(SpeechbudgetError, OSError):
    """An output path that cannot be written (checked before the work starts)."""

    exit_code = EXIT_OUTPUT

    def __str__(self) -> str:  # the message, also when write_atomic set errno / strerror
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


def check_output_file(path: str | Path, option: str = "output") -> Path:
    """Fail before computing when `path` cannot be written as a file: it is a folder, its folder
    is missing or not writable, or it exists read-only."""
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"{option} {p}: is a folder, not a file")
    if p.exists() and not p.is_file():
        raise OutputError(f"{option} {p}: not a regular file (a FIFO or device)")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{option} {p}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {p}: the folder {parent} is not writable")
    if p.exists() and not os.access(p, os.W_OK):
        raise OutputError(f"{option} {p}: the file is read-only")
    return p


def check_output_dir(path: str | Path, option: str = "output folder") -> Path:
    """Fail before computing when `path` cannot be (created and) written as a folder: the
    permission check, and the part of the path that does not exist yet made and removed again
    (under /proc, or for root on a read-only file system, the permission check passes and only
    the write after the work would fail). Nothing is left behind: only the empty folders made
    here are removed, innermost first; one made meanwhile by someone else is theirs, kept."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{option} {p}: exists and is not a folder")
    q = p
    while not q.exists():
        q = q.parent if q.parent != q else Path(".")
    if not q.is_dir() or not os.access(q, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {p}: {q} is not a writable folder")
    missing: list[Path] = []
    q = p
    while not q.exists() and q.parent != q:
        missing.append(q)
        q = q.parent
    made: list[Path] = []
    try:
        for d in reversed(missing):
            try:
                d.mkdir()
            except FileExistsError:
                continue
            made.append(d)
    except OSError as e:
        raise OutputError(f"{option} {p}: cannot create the folder ({e.strerror or e})") from None
    finally:
        for d in reversed(made):
            try:
                d.rmdir()
            except OSError:
                pass
    return p



def make_output_dir(path: str | Path, option: str = "output folder") -> Path:
    """`check_output_dir`, then create the folder; OutputError (exit 6) naming `option` when it
    cannot be created (e.g. under /proc, where the permission check passes)."""
    p = check_output_dir(path, option)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{option} {p}: cannot create the folder ({e.strerror or e})") from None
    return p

def finite_json(x):
    """`x` with every NaN or infinite float replaced by None, and numpy arrays and scalars made
    plain: strict JSON has neither NaN nor Infinity (a configuration whose every item failed
    has the value NaN; an unbounded CI has infinite bounds). For every JSON output."""
    import math
    if hasattr(x, "tolist"):            # numpy arrays and scalars
        x = x.tolist()
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: finite_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite_json(v) for v in x]
    return x


def _file_mode(p: Path) -> int:
    """The permissions a file written at `p` gets: those of the file it replaces, else what
    open() would give a new file (0666 less the umask), as a plain write would."""
    try:
        return stat.S_IMODE(os.stat(p).st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def write_atomic(path: str | Path, data: str | bytes, option: str | None = None) -> Path:
    """Write through a temporary file in the same folder (fsynced), then os.replace: a reader
    sees the old file or the whole new one, never half of it. A write that fails (a full disk,
    a read-only folder, a folder that is a file) is OutputError (exit 6), "[OPTION ]PATH: cannot
    write (OS reason)", with the OS error's errno, strerror and filename; the temporary file is
    removed and an existing file at `path` is left as it was."""
    p = Path(path)
    # the temporary name is the file's, cut so that it stays a valid name (255 bytes) where the
    # file's own name is one
    stem = p.name.encode("utf-8")[:200].decode("utf-8", "ignore")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=p.parent if str(p.parent) else ".", prefix=f".{stem}.",
                                   suffix=".tmp")
        if hasattr(os, "fchmod"):  # POSIX (Windows before 3.13 has none, nor the 0600)
            os.fchmod(fd, _file_mode(p))  # mkstemp's 0600 would make every output private
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException as e:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if not isinstance(e, OSError) or isinstance(e, OutputError):
            raise
        error = OutputError(f"{option + ' ' if option else ''}{path}: cannot write "
                            f"({e.strerror or e})")
        error.errno, error.strerror, error.filename = e.errno, e.strerror or str(e), e.filename
        raise error from None
    return p
