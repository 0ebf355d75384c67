"""The README's convention: JSON keeps WER as a fraction in `value` and adds `wer_percent`.
`recommend --json` and `runs list --json` had only the fraction (shown by: recommend
runs.db --max-gflops 50 --json | grep -c wer_percent: 0)."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app


def test_recommend_json_adds_wer_percent(window_store):
    r = CliRunner().invoke(app, ["recommend", str(window_store), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["best"]["metric"] == "wer"
    for entry in [d["best"], *d["runners_up"], *d["tie_group"]]:
        assert entry["wer_percent"] == pytest.approx(100 * entry["value"])


def test_recommend_json_closest_adds_wer_percent(window_store):
    r = CliRunner().invoke(app, ["recommend", str(window_store), "--max-gflops", "1e-9", "--json"])
    d = json.loads(r.stdout)
    assert d["closest"]["wer_percent"] == pytest.approx(100 * d["closest"]["value"])


def test_runs_list_json_adds_wer_percent(window_store):
    r = CliRunner().invoke(app, ["runs", "list", str(window_store), "--json"])
    assert r.exit_code == 0, r.output
    configs = json.loads(r.stdout)["configs"]
    assert configs
    for c in configs:
        assert c["metrics"]["metric"] == "wer"
        assert c["wer_percent"] == pytest.approx(100 * c["metrics"]["value"])
