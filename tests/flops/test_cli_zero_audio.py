"""`speechbudget flops --audio-s 0`: the text said "nan GFLOPs per second of audio (0 s)" (the
JSON's null, printed as a number); it now says there is no such rate for 0 s of audio, and the
totals stay (a window is still encoded and one end-of-text token decoded)."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app

runner = CliRunner()


@pytest.mark.parametrize("window", ["30", "dynamic"])
def test_zero_seconds_of_audio_prints_no_nan(window):
    args = ["flops", "--model", "tiny.en", "--window", window, "--audio-s", "0"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "nan" not in r.output.lower(), r.output
    assert "no GFLOPs per second of audio (0 s of audio)" in r.output
    j = json.loads(runner.invoke(app, args + ["--json"]).output)
    assert j["analytic"]["gflops_per_audio_s"] is None
    assert f"total {j['analytic']['gflops']:,.3f} GFLOPs" in r.output


def test_positive_audio_keeps_the_rate():
    r = runner.invoke(app, ["flops", "--model", "tiny.en", "--window", "30", "--audio-s", "15"])
    assert r.exit_code == 0 and "GFLOPs per second of audio (15 s)" in r.output, r.output
