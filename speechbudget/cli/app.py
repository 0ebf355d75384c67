"""The `speechbudget` Typer application; subcommand modules register themselves on it.

Conventions of every subcommand (checked by tests/cli/test_conventions.py): `--json` prints
machine-readable output to stdout; `-o/--out PATH` is a file or folder to write; a results store
is a positional argument; `--model` names the model; `--device` defaults to cuda when present;
`--limit N` is a number of items; WER is shown in percent and labelled so.
"""
import os
import sys

import typer

from speechbudget.cli.errors import ErrorMappingGroup
# piped output: rich would cut tables to 80 columns; give it room (a terminal keeps its width)
if not sys.stdout.isatty() and "COLUMNS" not in os.environ:
    os.environ["COLUMNS"] = "240"

app = typer.Typer(help="speechbudget: where to spend a speech model's compute "
                       "(model size xN, input window xT, token stride xV). "
                       "--debug (anywhere): show the traceback of an unexpected error.",
                  no_args_is_help=True, add_completion=False, cls=ErrorMappingGroup)


def _show_version(value: bool) -> None:
    if value:
        from speechbudget import __version__
        typer.echo(f"speechbudget {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", is_eager=True, callback=_show_version,
                                       help="Print the version and exit.")) -> None:
    """The root's options (the help text is the Typer's, above)."""
