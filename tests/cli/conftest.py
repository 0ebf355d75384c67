"""Helpers shared by the command-line tests."""
from __future__ import annotations

from typing import Iterator

import click
import typer

from speechbudget.cli import app


def cli_commands(cmd: click.Command | None = None, path: tuple[str, ...] = ()
                 ) -> Iterator[tuple[str, click.Command]]:
    """Every leaf command of the `speechbudget` tree as ("sweep run", its click command)."""
    cmd = cmd or typer.main.get_command(app)
    subs = getattr(cmd, "commands", None)
    if subs:
        for name, sub in subs.items():
            yield from cli_commands(sub, (*path, name))
    else:
        yield " ".join(path), cmd
