"""`speechbudget asr adapt` follows the CLI's progress convention (README: a bar on stderr only on
a terminal, --no-progress turns it off): piped, its output holds no bar, and it takes
--progress/--no-progress as every long-running command does."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from .conftest import build_tiny_whisper, tiny_bundle, tone_rows

BAR = "━"  # what rich draws a progress bar with


@pytest.mark.parametrize("flag", [[], ["--no-progress"], ["--progress"]])
def test_adapt_draws_no_bar_when_not_on_a_terminal(tmp_path, monkeypatch, flag):
    import speechbudget.models.loading as loading
    from speechbudget.cli import app

    bundle = tiny_bundle(build_tiny_whisper(seed=4))
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: bundle)
    rows = [{**r, "text": "w1 w2"} for r in tone_rows(tmp_path, "a", [1.2, 1.7], 180)]
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "adapter"
    r = CliRunner().invoke(app, ["asr", "adapt", "--window", "4", "--stride", "2",
                                 "--stride-at", "1", "--data", str(tmp_path), "--rank", "2",
                                 "--steps", "2", "--batch-size", "2", "--out", str(out), *flag])
    assert r.exit_code == 0, r.output
    assert (out / "adapter.safetensors").exists()
    assert BAR not in r.output, r.output          # CliRunner's stderr is no terminal
    assert "wrote " in r.output and "2 steps" in r.output   # the summary line stays
