"""--task naming a task the store holds none of: recommend and report say what it holds."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.cli.app import app


@pytest.mark.parametrize("command", [["recommend"], ["report", "-o", "OUT"]])
def test_a_task_the_store_lacks_names_what_it_has(tmp_path, item_store, command):
    store = item_store(tmp_path / "r.db", [(30, 20.0, [("u1", 1, 10), ("u2", 0, 8)])])
    args = [a if a != "OUT" else str(tmp_path / "rep") for a in command]
    r = CliRunner().invoke(app, [args[0], str(store), *args[1:], "--task", "ser"])
    assert r.exit_code == 2, r.output
    assert "no finished configurations for task 'ser' (it has: asr)" in r.output, r.output
