"""`ser train --out DIR` where DIR cannot be written: exit 6 before anything else. Before, the
'SER ... on ...' line came first (as if training started), and a folder whose permission check
passes but which cannot be made (under /proc, or as root on a read-only file system) was found
only when the checkpoint was written, after the training (minutes lost)."""
from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from speechbudget.cli import app


@pytest.fixture
def trained(monkeypatch):
    """Stands in for the training (none here): records the checkpoint folder it was given."""
    import speechbudget.tasks.ser.api as api
    seen: list = []

    def train(config, dataset, out, *a, **kw):
        seen.append(out)
        raise typer.Exit(0)
    monkeypatch.setattr(api, "train", train)
    return seen


def _train(data, out):
    return CliRunner().invoke(app, ["ser", "train", "--data", str(data), "--out", str(out),
                                    "--device", "cpu", "--no-progress"])


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc")
def test_a_folder_that_cannot_be_made_is_exit_6_before_training(synthetic_manifest, trained):
    out = Path("/proc/speechbudget-no-such/ck")
    r = _train(synthetic_manifest, out)
    assert r.exit_code == 6, r.output
    assert trained == [] and "SER" not in r.output
    assert f"checkpoint folder {out}" in " ".join(r.output.split())


def test_an_unwritable_folder_is_said_before_the_training_line(synthetic_manifest, tmp_path,
                                                               trained):
    (tmp_path / "f").write_text("")  # a file where the folder's parent would be
    r = _train(synthetic_manifest, tmp_path / "f" / "ck")
    assert r.exit_code == 6 and trained == []
    assert r.output.lstrip().startswith("error: checkpoint folder"), r.output


def test_the_check_leaves_nothing_behind(synthetic_manifest, tmp_path, trained):
    out = tmp_path / "a" / "b" / "ck"
    r = _train(tmp_path / "missing.jsonl", out)  # refused after the check (exit 3)
    assert r.exit_code == 3 and not (tmp_path / "a").exists()
    r = _train(synthetic_manifest, out)
    assert r.exit_code == 0 and trained == [out], r.output
    assert "SER" in r.output and not (tmp_path / "a").exists()  # training makes it, not the check
