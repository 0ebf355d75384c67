"""`asr eval -o FILE` and `ser eval -o FILE` when the write fails after the run (disk full, or
/proc where the permission check passes): exit 6 naming --out, with the results still printed;
both were exit 70 ('internal error: ...') and the computed results were lost. write_atomic raises
the OutputError itself (each command had its own copy turning OSError into it): the faults here
are the operating system's (a failing fsync, a read-only file system, a folder that became a
file after the check), and an existing file is left as it was, with no temporary file beside."""
from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
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
    import speechbudget.tasks.ser.api as runner

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
    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full_disk)
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
    assert not out.exists() and not list(tmp_path.glob(".r.json*"))


def _after_the_run(monkeypatch, fault):
    """Run `fault` when the (fake) evaluation ends: after the output check passed."""
    import speechbudget.tasks.asr.runner as asr_runner
    import speechbudget.tasks.ser.api as ser_runner

    for runner in (asr_runner, ser_runner):
        def evaluate(*a, _real=runner.evaluate, **k):
            got = _real(*a, **k)
            fault()
            return got
        monkeypatch.setattr(runner, "evaluate", evaluate)


def _folder_is_now_a_file(folder, monkeypatch):
    def fault():
        shutil.rmtree(folder)
        folder.write_text("a file where the folder was")
    _after_the_run(monkeypatch, fault)
    return "Not a directory"


def _read_only_file_system(folder, monkeypatch):
    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")
    _after_the_run(monkeypatch, lambda: monkeypatch.setattr(tempfile, "mkstemp", read_only))
    return "Read-only file system"


def _full_disk(folder, monkeypatch):
    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    _after_the_run(monkeypatch, lambda: monkeypatch.setattr(os, "fsync", full_disk))
    return "No space left on device"


@pytest.mark.parametrize("command", [_asr, _ser], ids=["asr", "ser"])
@pytest.mark.parametrize("fault", [_folder_is_now_a_file, _read_only_file_system, _full_disk],
                         ids=["parent-is-a-file", "read-only", "full-disk"])
def test_a_write_fault_is_one_line_exit_6_and_the_old_file_stays(tmp_path, monkeypatch, command,
                                                                 fault):
    folder = tmp_path / "o"
    folder.mkdir()
    out = folder / "r.json"
    out.write_text("old results")
    args, holds, shown = command(monkeypatch, tmp_path)
    reason = fault(folder, monkeypatch)
    res = CliRunner().invoke(app, args + ["--device", "cpu", "--no-progress", "-o", str(out)],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 6, res.output
    errors = [x for x in res.output.splitlines() if "error" in x]
    assert errors == [f"error: --out {out}: cannot write ({reason})"], res.output
    assert "internal error" not in res.output and "Traceback" not in res.output
    if folder.is_dir():
        assert out.read_text() == "old results" and sorted(folder.iterdir()) == [out]
