"""The command line's error boundary: a domain error (speechbudget.errors.SpeechbudgetError and
its subclasses) becomes one line on stderr and its exit code; an unexpected error one line and
exit 70, with the traceback only under --debug (or SPEECHBUDGET_DEBUG=1). A warning raised while a
command runs is one line on stderr, "warning: <message>" (under --debug Python's own format, with
the file and line that raised it)."""
from __future__ import annotations

import os
import sys
import warnings

import typer

from speechbudget.errors import EXIT_INTERNAL, SpeechbudgetError


def one_line(e: BaseException | str) -> str:
    msg = " ".join(str(e).split()) or type(e).__name__
    return msg if len(msg) <= 2000 else msg[:2000] + " ..."


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """warnings.showwarning for the command line: one line, the message only."""
    print(f"warning: {one_line(message)}", file=sys.stderr if file is None else file)


class ErrorMappingGroup(typer.core.TyperGroup):
    """The top-level group: every subcommand runs inside its `invoke`."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        args = list(args)
        cut = args.index("--") if "--" in args else len(args)
        if "--debug" in args[:cut]:
            args.remove("--debug")
            ctx.meta["speechbudget.debug"] = True
        return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context):
        debug = ctx.meta.get("speechbudget.debug") or os.environ.get("SPEECHBUDGET_DEBUG") == "1"
        try:
            with warnings.catch_warnings():  # restores showwarning afterwards
                if not debug:
                    warnings.showwarning = _warning_line
                return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException, SystemExit, KeyboardInterrupt):
            # typer's own (its vendored click's usage errors derive from TyperException)
            raise
        except SpeechbudgetError as e:
            if debug:
                raise
            typer.echo(f"error: {one_line(e)}", err=True)
            ctx.exit(e.exit_code)
        except Exception as e:  # noqa: BLE001 (the boundary)
            if debug:
                raise
            typer.echo(f"error: internal error: {type(e).__name__}: {one_line(e)} (run again "
                       "with --debug for the traceback)", err=True)
            ctx.exit(EXIT_INTERNAL)
        finally:
            sys.stderr.flush()
