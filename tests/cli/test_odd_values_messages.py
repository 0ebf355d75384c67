"""A value with a control character in it (a newline, a tab, an escape sequence), or a very long
one, still gives ONE line on stderr naming it (found by fuzzing the command line): the control
character is shown escaped, as Python's repr shows it, and a long line is not wrapped."""
import warnings

import typer
from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.cli.errors import ErrorMappingGroup, one_line
from speechbudget.errors import OutputError


def _lines(r) -> list[str]:
    return [line for line in r.stderr.splitlines() if line.strip()]


def test_a_newline_in_a_usage_errors_value_is_shown_escaped():
    r = CliRunner().invoke(app, ["flops", "--pooling", "a\nb"])
    assert r.exit_code == 2, r.stderr
    errors = [line for line in _lines(r) if not line.startswith(("Usage:", "Try "))]
    assert errors == [errors[0]] and errors[0].startswith("Error: Invalid value for --pooling: "
                                                          "a\\nb: "), r.stderr


def test_a_folder_with_a_newline_in_its_name_is_one_line(tmp_path):
    folder = tmp_path / "dir\nname"
    folder.mkdir()
    r = CliRunner().invoke(app, ["transcribe", str(folder)])
    assert r.exit_code == 1, r.stderr
    assert _lines(r) == [f"{tmp_path}/dir\\nname: is a directory, not an audio file"], r.stderr


def test_a_long_value_is_one_line_not_wrapped():
    value = "x" * 3000
    r = CliRunner().invoke(app, ["runs", "export", "store.db", "--format", value])
    assert r.exit_code == 2, r.stderr
    assert _lines(r) == [f"error: --format {value!r}: expected csv, parquet or both"], r.stderr


def test_a_long_path_is_printed_whole_on_one_line(tmp_path):
    path = str(tmp_path / "/".join(["d" * 99] * 30)) + ".flac"  # ~3000 characters, no such file
    r = CliRunner().invoke(app, ["transcribe", path])
    assert r.exit_code == 1, r.stderr
    assert _lines(r) == [f"{path}: no such audio file"], r.stderr


def _boundary_app() -> typer.Typer:
    """A group with the command line's error boundary and two commands: one that warns and fails
    with an OutputError naming `value`, one that fails unexpectedly."""
    sub = typer.Typer(cls=ErrorMappingGroup)

    @sub.command("bad")
    def bad(value: str) -> None:
        warnings.warn(f"odd value {value}")
        raise OutputError(f"--value {value}: not writable")

    @sub.command("boom")
    def boom(value: str) -> None:
        raise RuntimeError(f"broke on {value}")
    return sub


def test_errors_and_warnings_escape_control_characters():
    value = "a\nb\tc\x1b[31md"
    r = CliRunner().invoke(_boundary_app(), ["bad", value])
    assert r.exit_code == 6, r.stderr
    assert _lines(r) == ["warning: odd value a\\nb\\tc\\x1b[31md",
                         "error: --value a\\nb\\tc\\x1b[31md: not writable"], r.stderr
    r = CliRunner().invoke(_boundary_app(), ["boom", value])
    assert r.exit_code == 70, r.stderr
    assert len(_lines(r)) == 1 and "broke on a\\nb\\tc\\x1b[31md" in r.stderr, r.stderr


def test_only_a_message_over_the_limit_is_cut_and_says_its_length():
    path = "/" + "p" * 4095                   # the longest path the OS takes: shown whole
    assert one_line(f"{path}: no such file") == f"{path}: no such file"
    cut = one_line("v" * 20000)
    assert cut.endswith("... (20000 characters)") and cut.startswith("v" * 4000)
