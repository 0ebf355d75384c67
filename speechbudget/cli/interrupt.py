"""Ctrl-C and `kill PID` (SIGTERM) of a command that fills a results store (`sweep run`,
`demo`): the run is recorded 'interrupted' (sweep.run), what finished stays in the store, and
the command ends with one line saying so and how to go on, exit 130 (docs/security.md)."""
from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path
from typing import Iterator

import typer

from speechbudget.cli.output import console, inert

EXIT_INTERRUPTED = 130


def _terminated(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def interrupted_keeps(store: Path | str) -> Iterator[None]:
    """Run the body with SIGTERM handled as Ctrl-C (KeyboardInterrupt, so a run in progress
    ends 'interrupted' rather than left 'running'); either ends the command with the line
    'interrupted: finished shards are in STORE; run the same command again to resume' on stderr
    (or, where STORE was not created yet, that nothing was stored) and exit 130. SIGTERM's
    handler is set only in the main thread (where Python runs them)."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    except KeyboardInterrupt:
        if Path(store).exists():
            what = f"finished shards are in {inert(store)}; run the same command again to resume"
        else:   # interrupted before the store was created (loading, checking the data)
            what = (f"nothing was stored yet ({inert(store)} not created); run the same command "
                    "again to start")
        console(stderr=True).print(f"[yellow]interrupted[/yellow]: {what}")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
