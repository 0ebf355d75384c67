"""typed_numbers: the one reader of numbers typed as text. Python's int() and float() read
`1_0` as 10 and other scripts' digits as digits; str.isdigit() holds for them and for '²'."""
from __future__ import annotations

import pytest

from speechbudget.typed_numbers import is_digits, plain_int, plain_number

ODD_INTS = ["1_0", "\u0661\u0662", "\u00b2", "\uff11", "2.5", "1e3", "0x10", "", " ", "nan", "inf",
            "--1", "1 0"]


@pytest.mark.parametrize("text, value", [("8", 8), (" 16 ", 16), ("-1", -1), ("+2", 2),
                                         ("0", 0), ("5.0", 5), ("007", 7)])
def test_plain_ints_read(text, value):
    assert plain_int(text) == value and type(plain_int(text)) is int


@pytest.mark.parametrize("text", ODD_INTS)
def test_odd_ints_refused_naming_the_value(text):
    with pytest.raises(ValueError, match="not a whole number") as e:
        plain_int(text)
    assert repr(text) in str(e.value)


def test_an_int_too_long_for_python_is_a_value_error():
    with pytest.raises(ValueError, match="too long"):
        plain_int("9" * 5000)


@pytest.mark.parametrize("text", ["1_0", "\u0661\u0662", "nan", "inf", "1e400", "\uff11"])
def test_plain_number_refuses(text):
    with pytest.raises(ValueError):
        plain_number(text)


@pytest.mark.parametrize("text, digits", [("12", True), ("0", True), ("\u0661\u0662", False),
                                          ("\u00b2", False), ("", False), ("1_0", False),
                                          ("-1", False), (12, False)])
def test_is_digits(text, digits):
    assert is_digits(text) is digits
