"""Numbers as a person types them: the one reader of a number given as text (a command-line
option, a window such as '15s', an adaptation such as 'lora:8', a transcription option).

Python's float() and int() read more than anyone types as a number: `1_0` (as 10), other
scripts' digits (`\u0661\u0662` as 12, and str.isdigit() also holds for `\u00b2`, which int()
then refuses), `nan`, `inf`, `infinity` and `1e400` (as inf). None of them is a value meant for
an option, so none is taken here: ASCII digits 0-9 only ([0-9], not the regex class \\d, which
matches other scripts' digits too), an optional sign, decimal point and exponent, a finite
value."""
from __future__ import annotations

import math
import re

# a number as typed: ASCII digits, an optional sign, decimal point and exponent
PLAIN_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
# a whole number as typed: ASCII digits and an optional sign; a zero fraction ('5.0') allowed,
# as the command line always took it
PLAIN_INT = re.compile(r"[-+]?([0-9]+)(?:\.0*)?")
DIGITS = re.compile(r"[0-9]+")


def plain_number(text: str) -> float:
    """A number written as a person writes one (`10`, `0.5`, `-1`, `.5`, `1e-3`; blanks around
    it ignored), its value finite; ValueError saying why otherwise (see the module's
    docstring)."""
    s = str(text).strip()
    if not PLAIN_NUMBER.fullmatch(s):
        raise ValueError(f"{text!r} is not a number (digits 0-9, an optional sign, decimal point "
                         "and exponent)")
    v = float(s)
    if not math.isfinite(v):
        raise ValueError(f"{text!r} is beyond the largest number")
    return v


def plain_int(text: str) -> int:
    """A whole number written as a person writes one (`8`, `-1`, `+2`, `5.0`; blanks around it
    ignored); ValueError saying why otherwise (`1_0`, other scripts' digits, `2.5`, `1e3`)."""
    s = str(text).strip()
    if not PLAIN_INT.fullmatch(s):
        raise ValueError(f"{text!r} is not a whole number (digits 0-9 and an optional sign)")
    try:
        return int(s.split(".")[0])
    except ValueError:  # Python's limit on an integer's digits (4300 by default)
        raise ValueError(f"{s[:20]!r}... ({len(s)} characters) is too long a number") from None


def is_digits(text: object) -> bool:
    """Whether `text` is a string of ASCII digits 0-9 (str.isdigit() also holds for other
    scripts' digits and for superscripts such as '\u00b2', which int() refuses)."""
    return isinstance(text, str) and DIGITS.fullmatch(text) is not None
