"""Interrupted before its store existed (Ctrl-C while the model loads or the data is checked),
`sweep run` / `demo` said 'finished shards are in STORE; run the same command again to resume'
of a file that was never created. It now says nothing was stored yet."""
from __future__ import annotations

import pytest
import typer

from speechbudget.cli.interrupt import interrupted_keeps


def _interrupt(store, capsys):
    with pytest.raises(typer.Exit) as e:
        with interrupted_keeps(store):
            raise KeyboardInterrupt
    assert e.value.exit_code == 130
    return capsys.readouterr().err.strip()


def test_no_store_yet_says_nothing_was_stored(tmp_path, capsys):
    store = tmp_path / "runs.db"
    assert _interrupt(store, capsys) == (f"interrupted: nothing was stored yet ({store} not "
                                         "created); run the same command again to start")
    assert not store.exists()


def test_a_store_keeps_the_resume_line(tmp_path, capsys):
    store = tmp_path / "runs.db"
    store.write_bytes(b"")
    assert _interrupt(store, capsys) == (f"interrupted: finished shards are in {store}; run "
                                         "the same command again to resume")
