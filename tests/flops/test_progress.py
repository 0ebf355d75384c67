"""Measured FLOPs report progress with increasing counts; `flops --measure` draws a bar on stderr
(a terminal) and none with --no-progress."""
from __future__ import annotations

import io

from rich.console import Console
from typer.testing import CliRunner

from speechbudget.axes import Config
from speechbudget.cli import app
from speechbudget.flops.measure import measure
from speechbudget.tasks.ser.flops_check import measure_ser


def test_measure_progress_counts_up():
    calls = []
    measure(Config(task="asr", model="tiny.en", window=1), decoded_tokens=3,
            progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 5) for i in range(1, 6)]  # build, encoder, 3 decoder passes


def test_measure_ser_progress_counts_up():
    calls = []
    measure_ser(Config(task="ser", model="tiny.en", window=1),
                progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)]


def test_flops_measure_cli_bar_and_no_progress(monkeypatch):
    from speechbudget.cli import progress
    for extra, drawn in (([], True), (["--no-progress"], False)):
        buf = io.StringIO()
        monkeypatch.setattr(progress, "err_console", Console(file=buf, force_terminal=True))
        r = CliRunner().invoke(app, ["flops", "--model", "tiny.en", "--window", "1", "--tokens",
                                     "2", "--measure", *extra])
        assert r.exit_code == 0, r.output
        assert "measured GFLOPs" in r.output
        assert ("counting" in buf.getvalue()) is drawn, (extra, buf.getvalue()[-300:])
