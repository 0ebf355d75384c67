"""Files written through errors.write_atomic (reports, checkpoints, JSON outputs, exports) kept
mkstemp's mode 0600: `speechbudget report STORE -o rep` wrote an index.html, and `ser train` a
checkpoint, that no other user could read, whatever the umask. A new file now gets 0666 less the
umask, a replaced file keeps its mode."""
from __future__ import annotations

import os
import stat

import pytest

from speechbudget.errors import write_atomic


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def test_a_new_file_gets_the_umask_mode(tmp_path, umask_022):
    assert _mode(write_atomic(tmp_path / "index.html", "<html>")) == 0o644


def test_another_umask_is_followed(tmp_path):
    old = os.umask(0o077)
    try:
        assert _mode(write_atomic(tmp_path / "private.json", "{}")) == 0o600
    finally:
        os.umask(old)


def test_a_replaced_file_keeps_its_mode(tmp_path, umask_022):
    p = tmp_path / "r.json"
    p.write_text("old")
    os.chmod(p, 0o640)
    write_atomic(p, "new")
    assert p.read_text() == "new" and _mode(p) == 0o640
