"""Usage errors are click's plain lines (no rich panel) with exit 2, run as the real console
script; --version prints the package version."""
import subprocess
import sys

import pytest

from speechbudget import __version__


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "speechbudget.cli", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("args, says", [
    (("asr", "eval", "--bogus"), "Error: No such option: --bogus"),
    (("transcribe",), "Error: Missing argument 'files'."),
    (("asr", "eval", "--limit", "abc"), "Error: Invalid value for '--limit'"),
])
def test_usage_error_is_plain_lines_and_exit_2(args, says):
    r = _run(*args)
    assert r.returncode == 2
    assert says in r.stderr
    assert not any(ch in r.stderr for ch in "╭╮╰╯│"), r.stderr  # rich's panel
    assert r.stderr.splitlines()[0].startswith("Usage: ")
    assert r.stdout == ""


def test_no_arguments_prints_help_once():
    r = _run()
    assert r.returncode == 2
    assert (r.stdout + r.stderr).count("Usage: ") == 1


def test_version():
    r = _run("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"speechbudget {__version__}"
