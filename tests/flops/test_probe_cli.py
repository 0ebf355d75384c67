"""Probes of `speechbudget flops`: strict JSON and errors that name the option the user typed."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from speechbudget.cli import app

runner = CliRunner()


def _strict(text: str):
    def refuse(token):
        raise ValueError(f"not strict JSON: {token}")
    return json.loads(text, parse_constant=refuse)


def test_json_is_strict_for_zero_seconds_of_audio():
    """--audio-s 0 has no GFLOPs per second of audio: the JSON printed `NaN` (not JSON)."""
    r = runner.invoke(app, ["flops", "--model", "tiny.en", "--audio-s", "0", "--json"])
    assert r.exit_code == 0, r.output
    out = _strict(r.output)
    assert out["analytic"]["gflops_per_audio_s"] is None and out["analytic"]["total"] > 0
