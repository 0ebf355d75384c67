"""The command line's error boundary: a domain error (speechbudget.errors.SpeechbudgetError and
its subclasses) becomes one line on stderr and its exit code; an unexpected error one line and
exit 70, with the traceback only under --debug (or SPEECHBUDGET_DEBUG=1); a path the OS refuses
as too long (ENAMETOOLONG, from whichever module met it) is a bad value, one line naming the option
and exit 2. A warning raised while a
command runs is one line on stderr, "warning: <message>" (under --debug Python's own format, with
the file and line that raised it). A usage error (an unknown option, a missing argument) is
click's plain "Usage: ... / Try ... / Error: <what is wrong>" on stderr and exit 2, not rich's
boxed panel, so that logs and pipes get lines they can grep.

Every such line (error, warning, usage error, and the lines commands print through `err_line`)
goes through `one_line`: a control character in it (a newline, tab or escape sequence inside a
value the user gave) is shown escaped as Python's repr shows it (\\n, \\t, \\x1b), so the
line stays one line and names the value as it was given; the line is never wrapped (a long path
is printed whole), and only a message over 5000 characters is cut, ending in
"... (N characters)"."""
from __future__ import annotations

import errno
import os
import sys
import unicodedata
import warnings

import typer

from speechbudget.errors import EXIT_INTERNAL, EXIT_USAGE, SpeechbudgetError


MAX_LINE = 5000   # longer than any path the OS takes (4096 bytes), so a path is shown whole


def printable(text: str) -> str:
    """`text` with each control character (\\n, \\t, \\r, \\x1b, ... and the C1 ones) written
    as Python's repr writes it, so that printing it cannot break or restyle the line."""
    return "".join(repr(c)[1:-1] if unicodedata.category(c) == "Cc" else c for c in text)


def one_line(e: BaseException | str) -> str:
    """The message of `e` as one printable line (see the module's docstring)."""
    msg = printable(str(e).strip()) or type(e).__name__
    return msg if len(msg) <= MAX_LINE else f"{msg[:MAX_LINE]}... ({len(msg)} characters)"


def err_line(message: str, prefix: str = "") -> None:
    """Print `prefix` + `message` as one line on stderr (`one_line`, unwrapped, no markup
    read in it): for the lines commands print themselves ("error: ...", "note: ...")."""
    typer.echo(f"{prefix}{one_line(message)}", err=True)


def _name_too_long(e: OSError, argv: list[str]) -> str:
    """The line for a path the OS refuses as too long (ENAMETOOLONG): it names the option whose
    value it is (found in the command line) and the value's start, not the whole of it."""
    name = str(e.filename or "")
    option = ""
    for i, arg in enumerate(argv):
        flag, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        if len(value) > 255 and value in name:
            option = flag if eq else (argv[i - 1] if i and argv[i - 1].startswith("-") else "")
            break
    shown = name if len(name) <= 160 else f"{name[:140]}... ({len(name)} characters)"
    return (f"{option + ' ' if option else ''}{shown}: file name too long (the system allows "
            "255 bytes a name, 4096 a path)")


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
        ctx.meta["speechbudget.argv"] = args
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
                message = one_line(e.format_message())  # a value's newline is shown as \\n
                e.format_message = lambda: message
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
            if isinstance(e, OSError) and e.errno == errno.ENAMETOOLONG:  # a bad value (exit 2)
                typer.echo(f"error: {_name_too_long(e, ctx.meta.get('speechbudget.argv', []))}",
                           err=True)
                ctx.exit(EXIT_USAGE)
            typer.echo(f"error: internal error: {type(e).__name__}: {one_line(e)} (run again "
                       "with --debug for the traceback)", err=True)
            ctx.exit(EXIT_INTERNAL)
        finally:
            sys.stderr.flush()
