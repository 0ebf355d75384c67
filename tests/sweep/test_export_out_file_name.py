"""`runs export -o tidy.parquet` wrote CSV files into a new folder named tidy.parquet (the
default --format is csv): --out is a folder, so a file name there is refused, exit 2, before
anything is written."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app


@pytest.mark.parametrize("name", ["tidy.parquet", "tidy.csv"])
def test_a_file_name_as_out_is_refused(window_store, tmp_path, name):
    r = CliRunner().invoke(app, ["runs", "export", str(window_store), "-o", str(tmp_path / name)])
    assert r.exit_code == 2, r.output
    assert "--out" in r.output and "--format" in r.output
    assert not (tmp_path / name).exists()


def test_a_folder_still_works(window_store, tmp_path):
    r = CliRunner().invoke(app, ["runs", "export", str(window_store), "-o", str(tmp_path / "tables")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "tables" / "configs.csv").is_file()
