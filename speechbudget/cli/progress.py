"""The CLI's progress bar: a transient rich bar on stderr (as `asr eval` draws), fed by the
`progress(done, total[, phase])` callback the library functions take. Nothing is drawn with
`--no-progress` or when stderr is not a terminal (piped output stays plain)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console

from speechbudget.cli.output import inert

err_console = Console(stderr=True)

Update = Callable[..., None]


@contextmanager
def progress_bar(enabled: bool, description: str) -> Iterator[Update | None]:
    """Yields update(done, total, phase=None) for a library callback, or None when disabled."""
    if not enabled:
        yield None
        return
    from rich.progress import Progress
    console = err_console
    with Progress(console=console, transient=True, disable=not console.is_terminal) as prog:
        bar = prog.add_task(inert(description), total=None)  # a path in it is text, not markup

        shown = {"phase": None}

        def update(done: int, total: int | None, phase: str | None = None) -> None:
            extra = {"description": inert(phase)} if phase else {}
            prog.update(bar, completed=done, total=total, **extra)
            step = phase.split(":")[0] if phase else None
            if step != shown["phase"]:   # a new step is drawn at once, not at the next tick
                shown["phase"] = step
                prog.refresh()

        yield update
