"""Every int and float option of every command reads its number as a person types it
(cli/options.number_parser, typed_numbers): typer's own reading took `1_0` as 10 (`speechbudget
transcribe --beam 1_0` ran 10 beams, `asr adapt --lr 1_0` trained at 10) and `nan`, `inf` as
numbers. The walk below finds the options from the command tree, so an option added later is
checked too. Valid spellings and each option's range are as before."""
from __future__ import annotations

import pytest
import typer
from typer._typing import is_number_type
from typer.testing import CliRunner

from speechbudget.cli import app
from tests.cli.conftest import cli_commands
from speechbudget.cli.options import LIMIT_UNITS


def _numeric_options():
    for name, cmd in cli_commands():
        for p in cmd.params:
            ann = getattr(getattr(p, "type_descriptor", None), "annotation", None)
            if ann in (int, float) or (ann is not None and is_number_type(ann)):
                yield pytest.param(cmd, p, ann, id=f"{name} {'/'.join(p.opts)}")


OPTIONS = list(_numeric_options())


def test_the_walk_finds_the_numeric_options():
    ids = {o.id for o in OPTIONS}
    assert {"transcribe --beam", "asr adapt --lr", "flops --tokens", "sweep run --lease-s",
            "runs show --limit"} <= ids and len(ids) > 40, ids


def convert(cmd, p, text):
    return p.process_value(typer.Context(cmd), text)


@pytest.mark.parametrize("cmd, p, ann", OPTIONS)
def test_odd_spellings_are_refused(cmd, p, ann):
    odd = ["1_0", "\u0661\u0660", "\uff11\uff10", "0x10", "1,5", ""]
    if ann is int:
        odd += ["2.5", "nan", "inf"]
    elif p.opts[0] not in LIMIT_UNITS:   # a limit passes nan/inf on to its own check, by name
        odd += ["nan", "-inf", "Infinity", "1e400"]
    for text in odd:
        with pytest.raises(typer.BadParameter) as e:
            convert(cmd, p, text)
        assert repr(text) in e.value.format_message(), e.value.format_message()


@pytest.mark.parametrize("cmd, p, ann", OPTIONS)
def test_plain_spellings_still_read(cmd, p, ann):
    assert convert(cmd, p, "5") == 5 and convert(cmd, p, " 16 ") == 16
    if ann is float:
        assert convert(cmd, p, "1e-4" if p.min is None else "1e2") == \
            (1e-4 if p.min is None else 100.0)
        assert convert(cmd, p, ".5") == 0.5
    if p.min is None:
        assert convert(cmd, p, "-1") == -1
    else:   # the range typer checked (a parser given, typer checks none: the parser does)
        with pytest.raises(typer.BadParameter):
            convert(cmd, p, str(p.min - 1))
        assert convert(cmd, p, str(p.min)) == p.min


@pytest.mark.parametrize("args, option", [
    (["transcribe", "missing.wav", "--beam", "1_0"], "--beam"),
    (["asr", "adapt", "--data", "d", "-o", "o", "--lr", "1_0"], "--lr"),
    (["flops", "--model", "tiny.en", "--audio-s", "nan"], "--audio-s"),
    (["sweep", "run", "spec.yaml", "runs.db", "--workers", "\u0662"], "--workers"),
])
def test_one_usage_line_naming_the_option_and_the_value(tmp_path, args, option):
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, r.output
    last = r.output.strip().splitlines()[-1]
    assert f"Invalid value for '{option}'" in last and repr(args[-1]) in last, r.output
