"""The `speechbudget` Typer application; subcommand modules register themselves on it."""
import typer

from speechbudget.cli.errors import ErrorMappingGroup

app = typer.Typer(help="speechbudget: where to spend a speech model's compute "
                       "(model size xN, input window xT, token stride xV). "
                       "--debug (anywhere): show the traceback of an unexpected error.",
                  no_args_is_help=True, add_completion=False, cls=ErrorMappingGroup)
