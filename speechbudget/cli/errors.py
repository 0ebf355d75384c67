"""The command line's error boundary: a domain error (speechbudget.errors.SpeechbudgetError and
its subclasses) becomes one line on stderr and its exit code; an unexpected error one line and
exit 70, with the traceback only under --debug (or SPEECHBUDGET_DEBUG=1). A warning raised while a
command runs is one line on stderr, "warning: <message>" (under --debug Python's own format, with
the file and line that raised it). A usage error (an unknown option, a missing argument) is
click's plain "Usage: ... / Try ... / Error: <what is wrong>" on stderr and exit 2, not rich's
boxed panel, so that logs and pipes get lines they can grep."""
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

    def main(self, *args, **kwargs):
        """Runs as typer's standalone mode does, but shows a usage error without rich's panel."""
        if not kwargs.get("standalone_mode", True):
            return super().main(*args, **kwargs)
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except typer.TyperException as e:  # its vendored click's ClickException and UsageError
            if type(e).__name__ != "NoArgsIsHelpError":  # that one has printed the help already
                e.show()
            sys.exit(e.exit_code)
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if type(rv) is int else 0)

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
