"""`asr eval -o FILE` and `ser eval -o FILE` when the write fails after the run (disk full, or
/proc where the permission check passes): exit 6 naming --out, with the results still printed;
both were exit 70 ('internal error: ...') and the computed results were lost."""
from __future__ import annotations

import errno
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.tasks.ser.metrics import SerMetrics

LIBRI = Path(__file__).resolve().parents[2] / "data" / "librispeech_sample"


def _asr(monkeypatch, tmp_path):
    import speechbudget.tasks.asr.runner as runner

    def fake_evaluate(cfg, ds, **kw):
        m = ConfigMetrics(config_key=cfg.key, task="asr", metric="wer", value=0.25, ci_low=0.1,
                          ci_high=0.4, n_items=1, rtfx=10.0, peak_mem_mb=100.0,
                          gflops=10.0, rtf=0.1, extra={"threads": 1, "failures": []})
        return m, [ItemResult(item_id="u1", ok=True, prediction="a", reference="a b",
                              errors=1, n_ref=4)]
    monkeypatch.setattr(runner, "evaluate", fake_evaluate)
    return (["asr", "eval", "--data", str(LIBRI), "--limit", "1"],
            lambda doc: doc["metrics"]["value"] == 0.25, "25")


def _ser(monkeypatch, tmp_path):
    import speechbudget.cli.ser_cmd as ser_cmd
    import speechbudget.tasks.ser.checkpoint as checkpoint
    import speechbudget.tasks.ser.runner as runner

    def fake_evaluate(ckpt, dataset, **kw):
        m = SerMetrics(ua=0.625, wa=0.5, macro_f1=0.5, confusion=[[1, 0], [1, 0]],
                       labels=["angry", "happy"], n=2)
        return m, [ItemResult(item_id="c1", ok=True, prediction="angry", reference="angry")]
    monkeypatch.setattr(checkpoint, "read_meta", lambda ckpt: {})
    monkeypatch.setattr(ser_cmd, "_data", lambda *a: SimpleNamespace(items=[]))
    monkeypatch.setattr(runner, "evaluate", fake_evaluate)
    return (["ser", "eval", str(tmp_path), "--data", str(tmp_path)],
            lambda doc: doc["metrics"]["ua"] == 0.625, "0.6250")


@pytest.mark.parametrize("command", [_asr, _ser], ids=["asr", "ser"])
@pytest.mark.parametrize("as_json", [False, True])
def test_a_failed_write_is_exit_6_and_the_results_are_printed(tmp_path, monkeypatch, command,
                                                              as_json):
    import speechbudget.errors

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(speechbudget.errors, "write_atomic", full_disk)
    args, holds, shown = command(monkeypatch, tmp_path)
    out = tmp_path / "r.json"
    args += ["--device", "cpu", "--no-progress", "-o", str(out)] + (["--json"] if as_json else [])
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 6, res.output
    assert f"--out {out}: cannot write (No space left on device)" in res.output
    assert "internal error" not in res.output
    if as_json:
        assert holds(json.loads(res.stdout[:res.stdout.rindex("}") + 1]))
    else:
        assert shown in res.output and "wrote" not in res.output
    assert not out.exists()
