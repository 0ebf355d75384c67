"""benchmarks/gpu_check.sh: its --dry-run validates and prints every step without a GPU."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.sh"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_dry_run_lists_every_step_and_exits_0(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    p = _run("--dry-run", "--data", str(data), "--out", str(tmp_path / "out"), "--limit", "5")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    for step in ("pytest_cuda", "asr_vs_fw_tiny.en", "asr_vs_fw_base", "asr_eval_tiny.en_fp16",
                 "asr_eval_base_fp16", "encoder_efficiency", "gpu_decoder_attention"):
        assert f"[{step}]" in out
    assert "-m cuda" in out and "--precision fp16 --device cuda" in out and "--limit 5" in out
    assert "dry run ok: 7 steps" in out
    assert not (tmp_path / "out").exists()  # a dry run writes nothing


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bad_arguments_fail_with_a_message(tmp_path):
    p = _run("--dry-run", "--data", str(tmp_path / "missing"))
    assert p.returncode == 1 and "data folder" in p.stderr
    p = _run("--bogus")
    assert p.returncode == 2 and "--bogus" in p.stderr
    p = _run("--dry-run", "--data", str(tmp_path), "--limit", "x")
    assert p.returncode == 1 and "--limit 'x'" in p.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_python_without_the_cli_dependencies_is_named(tmp_path):
    # speechbudget imports without typer, the CLI does not: the script said an option was missing
    # from a --help it could not print
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "typer.py").write_text(
        'raise ModuleNotFoundError("No module named typer", name="typer")\n')
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(shadow)}
    p = subprocess.run(["bash", str(SCRIPT), "--dry-run", "--data", str(tmp_path)], cwd=REPO,
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 1
    assert "cannot run the speechbudget CLI" in p.stderr and "typer" in p.stderr
    assert "is not in the --help" not in p.stderr
