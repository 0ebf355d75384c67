"""How the commands print to the terminal: text the user controls (paths, data sources, item ids,
labels, messages from the data or a store) is shown as it is, and a line is never folded.

A plain Rich `Console.print` reads '[...]' in its text as markup (a path 'run[b]/out.json' lost
its tag and was printed bold; '[/x]' raised a MarkupError, exit 70), ':name:' as an emoji code,
and folds each line at the terminal's width (80 columns in a pipe or a CI log), so the path in
'wrote PATH' came out over two lines that could not be copied or parsed. Here:

- `console(stderr=False)`: a Console that never folds a printed line (soft wrap: the terminal
  wraps it for the eye, the text stays one line), reads no emoji codes and colours nothing by
  guessing; a Table it prints still fits the width (its cells wrap).
- `inert(value)`: the text of `value` for a place that reads markup (a Table's cell or title, a
  line with styles of its own): markup escaped, control and invisible characters written as
  Python's repr writes them, so the text can neither restyle nor break the output.
- `line(text, err=False, style=None)`: one line printed as it is (no markup read), control
  characters written as escapes, never folded: for a line that carries a path.
"""
from __future__ import annotations

from rich.console import Console
from rich.markup import escape


def console(stderr: bool = False) -> Console:
    """A Console for the commands' output (see the module's docstring)."""
    return Console(stderr=stderr, soft_wrap=True, emoji=False, highlight=False)


def shown(value: object) -> str:
    """`value` as text with each control or invisible character written as an escape."""
    s = "" if value is None else str(value)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in s)


def inert(value: object) -> str:
    """`value` as text for a place that reads Rich markup: shown as it is."""
    return escape(shown(value))


def line(text: object, err: bool = False, style: str | None = None) -> None:
    """Print `text` as one line, as it is (no markup, no emoji codes), never folded."""
    console(err).print(shown(text), markup=False, style=style)
