"""`ser train` / `ser eval` on bad inputs: each is one line on stderr and the exit code of
docs/security.md ("Errors and exit codes"), with nothing half-written and nothing silently wrong."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app


def _train(*args: str):
    return CliRunner().invoke(app, ["ser", "train", "--no-progress", "--device", "cpu", *args])


@pytest.mark.parametrize("fold", ["3", "-1", "-4"])
def test_ser_train_fold_out_of_range_is_a_usage_error(synthetic_manifest, tmp_path, fold):
    # 3 folds: --fold 3 was an IndexError (exit 70), --fold -1 a misleading speaker-overlap
    # error (exit 3)
    r = _train("--data", str(synthetic_manifest), "--folds", "3", f"--fold={fold}",
               "--out", str(tmp_path / "ck"))
    assert r.exit_code == 2, r.output
    assert f"fold={fold}" in r.output and "0..2" in r.output
    assert not (tmp_path / "ck").exists()
