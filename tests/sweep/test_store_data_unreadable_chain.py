"""An item's audio unreadable in one run is no difference from the stored record (its result is
a failed item, or an ok one computed before). But the run that could not read it replaced the
stored record by its own, which knew nothing of that item: a third run with *other* audio under
its path was then taken as the same data, and resumed results computed on the first recording
(found by review of 39b75ca). The record now keeps what it knew of an item this run cannot
read, so the third run is refused naming the item."""
from __future__ import annotations

import shutil

import pytest

from speechbudget.sweep.store_guard import StoreError
from tests.sweep.conftest import ASR_ONE_CONFIG, copied_manifest, register_sweep

ASR = ASR_ONE_CONFIG


@pytest.fixture
def corpus(tmp_path, bundled_librispeech):
    m, rows = copied_manifest(bundled_librispeech, tmp_path)
    return m, rows


def _register(tmp_path, manifest, db):
    register_sweep({**ASR, "data": str(manifest)}, db, tmp_path)


def test_other_audio_after_an_unreadable_run_is_refused(tmp_path, corpus):
    manifest, rows = corpus
    db = tmp_path / "r.db"
    first, second = (tmp_path / "a" / r["audio"] for r in rows)
    _register(tmp_path, manifest, db)
    saved = first.read_bytes()
    first.unlink()                          # a run that cannot read it: resumes
    _register(tmp_path, manifest, db)
    shutil.copy(second, first)              # other audio under its path
    with pytest.raises(StoreError, match=f"other audio \\(item {rows[0]['id']}\\)"):
        _register(tmp_path, manifest, db)
    first.write_bytes(saved)                # the recording the results were computed on
    _register(tmp_path, manifest, db)
