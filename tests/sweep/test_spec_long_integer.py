"""An integer with more digits than Python reads (4300) in a sweep file is a SpecError naming
the file, line and column. It was a bare ValueError: `sweep plan` stopped with 'internal error:
ValueError: Exceeds the limit (4300 digits) for integer string conversion' (exit 70) and `sweep
run` printed that sentence with no file or line (shown by: window: [999...9], 5000 digits)."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.sweep import load_spec
from speechbudget.sweep.spec import SpecError


def _spec(write_spec, digits: int):
    p = write_spec("long")
    p.write_text(p.read_text() + f"device: {'9' * digits}\n")  # its own line, at the end
    return p, len(p.read_text().splitlines())


def test_a_too_long_integer_is_a_spec_error_with_its_line(write_spec):
    p, line = _spec(write_spec, 5000)
    with pytest.raises(SpecError, match=rf"long\.yaml: file: line {line}, column 9: an integer "
                                        r"of 5000 characters, too long to be read"):
        load_spec(p)


@pytest.mark.parametrize("command", ["plan", "run"])
def test_sweep_plan_and_run_exit_2_naming_it(write_spec, tmp_path, command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    p, line = _spec(write_spec, 5000)
    args = ["sweep", command, str(p)] + ([str(tmp_path / "r.db")] if command == "run" else [])
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, r.output
    assert f"line {line}, column 9: an integer of 5000 characters" in " ".join(r.output.split())


def test_a_long_but_readable_integer_is_still_read(write_spec):
    p, _ = _spec(write_spec, 300)  # read, then refused as a device like any other wrong value
    with pytest.raises(SpecError, match=r"device"):
        load_spec(p)
