"""An item whose file could not be read is a stored failure computed on no audio. A resume that
can read the file again recorded the item's new audio though it kept (without --retry-failed)
that failure: other audio later put under the path was then refused as 'other audio (item
...)', even with --retry-failed, which would compute the item on it, though no stored result
was computed on the audio recorded (found with tiny.en on three bundled utterances: unreadable,
restored, resumed, then replaced). The record now keeps 'unreadable' for an item stored as
failed that a run does not compute again, and records its audio when --retry-failed does."""
from __future__ import annotations

import shutil

import pytest

from speechbudget.sweep import StoreError, run_sweep
from speechbudget.sweep.profile import file_digest, is_unreadable
from tests.sweep.conftest import ASR_ONE_CONFIG, copied_manifest, stored_item_audio


@pytest.fixture
def corpus(tmp_path, bundled_librispeech):
    m, rows = copied_manifest(bundled_librispeech, tmp_path)
    spec = {**ASR_ONE_CONFIG, "data": str(m)}
    return spec, rows, [tmp_path / "a" / r["audio"] for r in rows]


def _unreadable_then_restored(tmp_path, spec, first):
    """A run that cannot read `first` (a failed item), then a plain resume that can."""
    db = tmp_path / "r.db"
    saved = tmp_path / "saved.flac"
    shutil.move(first, saved)
    run_sweep(spec, db, progress=False, device="cpu")
    shutil.move(saved, first)
    run_sweep(spec, db, progress=False, device="cpu")
    return db


def test_a_failure_kept_on_resume_keeps_no_audio_in_the_record(tmp_path, corpus):
    spec, rows, (first, second) = corpus
    iid = rows[0]["id"]
    db = _unreadable_then_restored(tmp_path, spec, first)
    ok, audio = stored_item_audio(db, iid)
    assert not ok and is_unreadable(audio)          # the failure was computed on no audio
    shutil.copy(second, first)                      # other audio under its path: resumes,
    run_sweep(spec, db, progress=False, device="cpu")   # the failure kept as it was
    ok, audio = stored_item_audio(db, iid)
    assert not ok and is_unreadable(audio)


def test_retry_failed_computes_it_on_the_new_audio_and_records_that(tmp_path, corpus):
    spec, rows, (first, second) = corpus
    iid = rows[0]["id"]
    db = _unreadable_then_restored(tmp_path, spec, first)
    original = first.read_bytes()
    shutil.copy(second, first)                      # other audio under its path
    run_sweep(spec, db, progress=False, device="cpu", retry_items=True)
    ok, audio = stored_item_audio(db, iid)
    assert ok and audio == file_digest(first)       # computed on it, and the record says so
    first.write_bytes(original)                     # now the result is of the other audio
    with pytest.raises(StoreError, match=f"other audio \\(item {iid}\\)"):
        run_sweep(spec, db, progress=False, device="cpu", retry_items=True)


def test_recompute_stale_of_a_current_configuration_keeps_its_failure_unreadable(tmp_path,
                                                                                   corpus):
    """--recompute-stale recomputes only configurations stored by an older rule; this one is
    current, so its stored failure is kept as a plain resume keeps it, and the record must say
    'unreadable' too. Before, the option counted as a retry for every configuration: the
    restored file's audio was recorded under a failure computed on no audio, and other audio
    later under the path was refused as 'other audio', even with --retry-failed."""
    spec, rows, (first, second) = corpus
    iid = rows[0]["id"]
    db = tmp_path / "r.db"
    saved = tmp_path / "saved.flac"
    shutil.move(first, saved)
    run_sweep(spec, db, progress=False, device="cpu")
    shutil.move(saved, first)
    run_sweep(spec, db, progress=False, device="cpu", recompute_stale=True)
    ok, audio = stored_item_audio(db, iid)
    assert not ok and is_unreadable(audio)          # not recomputed: still no audio behind it
    shutil.copy(second, first)                      # other audio under its path
    run_sweep(spec, db, progress=False, device="cpu", retry_items=True)
    ok, audio = stored_item_audio(db, iid)
    assert ok and audio == file_digest(first)
