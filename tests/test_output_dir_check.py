"""errors.check_output_dir fails before the work where the permission check passes but the folder
cannot be made (under /proc), and leaves nothing behind where it can; `asr adapt -o` uses it."""
import sys
from pathlib import Path

import pytest

from speechbudget.errors import OutputError, check_output_dir

needs_proc = pytest.mark.skipif(not sys.platform.startswith("linux") or not Path("/proc").is_dir(),
                                reason="needs Linux /proc")


@needs_proc
def test_a_folder_that_cannot_be_made_is_refused_before_the_work():
    with pytest.raises(OutputError, match=r"--out /proc/sb_no_such/ad: cannot create the folder"):
        check_output_dir("/proc/sb_no_such/ad", "--out")


def test_a_missing_folder_is_made_and_removed_again(tmp_path):
    out = tmp_path / "a" / "b" / "c"
    assert check_output_dir(out, "--out") == out
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_and_its_files_are_left_alone(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    check_output_dir(tmp_path, "--out")
    assert (tmp_path / "keep.txt").read_text() == "x"


@needs_proc
def test_asr_adapt_refuses_such_an_out_before_reading_data(tmp_path):
    from typer.testing import CliRunner

    from speechbudget.cli import app
    r = CliRunner().invoke(app, ["asr", "adapt", "--data", str(tmp_path / "no_such_data"),
                                 "-o", "/proc/sb_no_such/ad"])
    assert r.exit_code == 6, r.output
    assert "cannot create the folder" in r.output
