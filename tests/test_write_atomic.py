"""errors.write_atomic raises the OutputError itself (exit 6), one line naming the path and the
operating system's reason: it let the OSError through, so each caller needed its own copy turning
it into one (asr eval -o and ser eval -o had one each) and a caller without one ended in exit 70
('internal error'). The temporary file is removed and an existing file is left as it was; the
OS error's errno, strerror and filename stay on the OutputError for a caller that words its own
message (runs export, report, ser train's checkpoint)."""
from __future__ import annotations

import errno
import os

import pytest

from speechbudget import errors
from speechbudget.errors import EXIT_OUTPUT, OutputError, write_atomic


def _no_space(fd):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_failed_write_is_one_output_error_and_the_old_file_stays(tmp_path, monkeypatch):
    out = tmp_path / "r.json"
    out.write_text("old")
    monkeypatch.setattr(os, "fsync", _no_space)
    with pytest.raises(OutputError) as got:
        write_atomic(out, "new" * 1000, "--out")
    assert str(got.value) == f"--out {out}: cannot write (No space left on device)"
    assert got.value.exit_code == EXIT_OUTPUT and got.value.errno == errno.ENOSPC
    assert got.value.strerror == "No space left on device"
    assert out.read_text() == "old" and sorted(tmp_path.iterdir()) == [out]


def test_a_folder_that_is_a_file_names_the_path(tmp_path):
    parent = tmp_path / "f"
    parent.write_text("a file")
    with pytest.raises(OutputError) as got:
        write_atomic(parent / "r.json", "x")
    assert str(got.value) == f"{parent / 'r.json'}: cannot write (Not a directory)"
    assert got.value.errno == errno.ENOTDIR and "\n" not in str(got.value)


def test_a_read_only_folder_names_the_path(tmp_path, monkeypatch):
    def read_only(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(errors.tempfile, "mkstemp", read_only)
    with pytest.raises(OutputError, match=r"r\.json: cannot write \(Permission denied\)$"):
        write_atomic(tmp_path / "r.json", b"x")
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_is_not_an_output_error(tmp_path, monkeypatch):
    def interrupted(fd):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "r.json", "x")
    assert list(tmp_path.iterdir()) == []


def test_a_caller_wording_its_own_message_still_gets_the_reason(tmp_path):
    """runs export / the checkpoint writer format `e.strerror or e`: the reason, not the whole
    OutputError message again."""
    try:
        write_atomic(tmp_path / "missing" / "r.json", "x")
    except OSError as e:
        assert (e.strerror or str(e)) == "No such file or directory"
    else:
        pytest.fail("no error")
