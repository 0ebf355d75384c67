"""`asr eval -o FILE` when the write fails after the run (disk full, or /proc where the permission
check passes): exit 6 naming --out, with the results still printed; it was exit 70 ('internal
error: FileNotFoundError') and nothing printed."""
from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.records import ConfigMetrics, ItemResult

LIBRI = Path(__file__).resolve().parents[2] / "data" / "librispeech_sample"


@pytest.fixture
def no_model(monkeypatch):
    """evaluate() stands in for the model run; the write then fails as a full disk does."""
    import speechbudget.errors
    import speechbudget.tasks.asr.runner as runner

    def fake_evaluate(cfg, ds, **kw):
        m = ConfigMetrics(config_key=cfg.key, task="asr", metric="wer", value=0.25, ci_low=0.1,
                          ci_high=0.4, n_items=1, rtfx=10.0, peak_mem_mb=100.0,
                          gflops=10.0, rtf=0.1, extra={"threads": 1, "failures": []})
        return m, [ItemResult(item_id="u1", ok=True, prediction="a", reference="a b",
                              errors=1, n_ref=4)]

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runner, "evaluate", fake_evaluate)
    monkeypatch.setattr(speechbudget.errors, "write_atomic", full_disk)


@pytest.mark.parametrize("as_json", [False, True])
def test_a_failed_write_is_exit_6_and_the_results_are_printed(tmp_path, no_model, as_json):
    out = tmp_path / "r.json"
    args = ["asr", "eval", "--data", str(LIBRI), "--limit", "1", "--device", "cpu",
            "--no-progress", "-o", str(out)] + (["--json"] if as_json else [])
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 6, res.output
    assert f"--out {out}: cannot write (No space left on device)" in res.output
    assert "internal error" not in res.output
    if as_json:
        doc = json.loads(res.stdout[:res.stdout.rindex("}") + 1])
        assert doc["metrics"]["value"] == 0.25
    else:
        assert "25" in res.output and "wrote" not in res.output
    assert not out.exists()
