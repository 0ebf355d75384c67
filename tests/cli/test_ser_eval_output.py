"""`ser eval -o FILE` when the write fails after the scoring (disk full, or /proc where the
permission check passes): exit 6 naming --out, with the results still printed; it was exit 70
('internal error: ...') and the scores were lost (as `asr eval -o` was: test_asr_eval_output)."""
from __future__ import annotations

import errno
import json
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

import speechbudget.cli.ser_cmd as ser_cmd
from speechbudget.cli import app
from speechbudget.records import ItemResult
from speechbudget.tasks.ser.metrics import SerMetrics


@pytest.fixture
def no_model(monkeypatch):
    """No checkpoint, data or model: the scoring is stood in for; the write fails."""
    import speechbudget.errors
    import speechbudget.tasks.ser.checkpoint as checkpoint
    import speechbudget.tasks.ser.runner as runner

    def fake_evaluate(ckpt, dataset, **kw):
        m = SerMetrics(ua=0.625, wa=0.5, macro_f1=0.5, confusion=[[1, 0], [1, 0]],
                       labels=["angry", "happy"], n=2)
        return m, [ItemResult(item_id="c1", ok=True, prediction="angry", reference="angry")]

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "read_meta", lambda ckpt: {})
    monkeypatch.setattr(ser_cmd, "_data", lambda *a: SimpleNamespace(items=[]))
    monkeypatch.setattr(runner, "evaluate", fake_evaluate)
    monkeypatch.setattr(speechbudget.errors, "write_atomic", full_disk)


@pytest.mark.parametrize("as_json", [False, True])
def test_a_failed_write_is_exit_6_and_the_results_are_printed(tmp_path, no_model, as_json):
    out = tmp_path / "r.json"
    args = ["ser", "eval", str(tmp_path), "--data", str(tmp_path), "--device", "cpu",
            "--no-progress", "-o", str(out)] + (["--json"] if as_json else [])
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 6, res.output
    assert f"--out {out}: cannot write (No space left on device)" in res.output
    assert "internal error" not in res.output
    if as_json:
        doc = json.loads(res.stdout[:res.stdout.rindex("}") + 1])
        assert doc["metrics"]["ua"] == 0.625
    else:
        assert "0.6250" in res.output and "wrote" not in res.output
    assert not out.exists()
