"""Helpers of the bad-input corpus: an in-process CLI that fails on any traceback; sweep files."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
LIBRI = REPO / "data" / "librispeech_sample"
FAKE = REPO / "tests" / "sweep" / "fake_task.py"



class Cli:
    def __init__(self):
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int | None = None, has: tuple[str, ...] = (),
                 env: dict | None = None):
        from speechbudget.cli import app
        r = self.runner.invoke(app, [str(a) for a in args], env=env)
        out = r.output
        assert "Traceback" not in out, out
        assert r.exception is None or isinstance(r.exception, SystemExit), \
            f"{type(r.exception).__name__}: {r.exception}\n{out}"
        if code is not None:
            assert r.exit_code == code, f"exit {r.exit_code}, expected {code}:\n{out}"
        flat = " ".join(out.split())
        for h in has:
            assert h in flat, f"{h!r} not in:\n{out}"
        return r


@pytest.fixture
def cli(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return Cli()


@pytest.fixture
def spec_file():
    """spec_file(folder, text=None, name="s", **keys) -> a sweep file: `text` as given, else a
    star sweep of the test-double task (tests/sweep/fake_task.py) with `keys` replaced."""
    def write(tmp: Path, text: str | None = None, name: str = "s", **keys) -> Path:
        d = {"task": "asr", "data": str(LIBRI), "runner": f"{FAKE}:FakeTask",
             "task_options": {"n_items": 4, "batch_size": 2}, "models": ["tiny.en", "base"],
             "axes": {"window": [30, 10]}, "plan": "star"}
        d.update(keys)
        p = tmp / f"{name}.yaml"
        p.write_text(text if text is not None else yaml.safe_dump(d))
        return p
    return write
