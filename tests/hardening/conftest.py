"""Helpers of the bad-input corpus: an in-process CLI that fails on any traceback."""
from __future__ import annotations


import pytest
from typer.testing import CliRunner



class Cli:
    def __init__(self):
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int | None = None, has: tuple[str, ...] = (),
                 env: dict | None = None):
        from speechbudget.cli import app
        r = self.runner.invoke(app, [str(a) for a in args], env=env)
        out = r.output
        assert "Traceback" not in out, out
        assert r.exception is None or isinstance(r.exception, SystemExit), \
            f"{type(r.exception).__name__}: {r.exception}\n{out}"
        if code is not None:
            assert r.exit_code == code, f"exit {r.exit_code}, expected {code}:\n{out}"
        flat = " ".join(out.split())
        for h in has:
            assert h in flat, f"{h!r} not in:\n{out}"
        return r


@pytest.fixture
def cli(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return Cli()
