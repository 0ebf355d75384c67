"""The `speechbudget` Typer application; subcommand modules register themselves on it."""
import typer

app = typer.Typer(help="speechbudget: where to spend a speech model's compute "
                       "(model size xN, input window xT, token stride xV).",
                  no_args_is_help=True, add_completion=False)
