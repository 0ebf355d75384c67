"""The per-item audio record says what each stored result was computed on: an item stored as
failed because its file could not be read keeps 'unreadable' there while that failure is kept.
A run that computes it again (--retry-failed) recorded the item's new audio for every
configuration when it registered them, before computing anything: a racing round that did not
reach the failed item's shard (the configuration then stopped), or a run killed before it, left
the failure stored under a record of readable audio, and other audio later put under the path
was refused as 'other audio (item ...)' though no stored result was computed on the audio
recorded. And a plain resume that stored a result for such an item through another grouping of
the shards (a failed row replaced by a new shard's result) kept 'unreadable' in the record
under a result computed on the audio: other audio put there later was taken, and the store
mixed the two. The record now takes an item's audio in the transaction that stores its result.
(tiny.en on three bundled utterances, copied.)"""
from __future__ import annotations

import shutil

import pytest

from speechbudget.sweep import ResultsStore, StoreError, run_sweep
from speechbudget.sweep.driver import Sweep
from speechbudget.sweep.executors import make_executor
from speechbudget.sweep.plan import plan_configurations
from speechbudget.sweep.profile import file_digest, is_unreadable
from speechbudget.sweep.spec import spec_from_dict
from speechbudget.tasks.asr.runner import AsrTask
from tests.sweep.conftest import ASR_ONE_CONFIG, copied_manifest, stored_item_audio


def _corpus(tmp_path, bundled_librispeech, batch_size):
    m, rows = copied_manifest(bundled_librispeech, tmp_path, n=3)
    spec = {**ASR_ONE_CONFIG, "data": str(m),
            "task_options": {**ASR_ONE_CONFIG["task_options"], "batch_size": batch_size}}
    return spec, [r["id"] for r in rows], [tmp_path / "a" / r["audio"] for r in rows]


def _run_shards(spec, db, keep, retry_items=False):
    """A run of `spec` that computes only the shards `keep(shard)` selects, as a racing round
    does (`Sweep.execute(only_shards=...)`), and stops there (the race stopped the
    configuration after that round)."""
    loaded = spec_from_dict(spec)
    ex = make_executor("local", None, "cpu", None, 0)
    with ResultsStore(db) as store:
        sweep = Sweep(loaded, store, ex, "cpu", progress=False, retry_failed=True,
                      retry_items=retry_items)
        try:
            plan = plan_configurations(loaded, audio_s=sweep.mean_audio_s)
            (c,) = plan.configs
            only = {sh.shard_id for sh in sweep.task.shards(c, sweep.dataset) if keep(sh)}
            sweep.execute(plan.configs, plan.gflops, only_shards=only)
        finally:
            sweep.finish([], "finished", 0.0)
            ex.close()


def _failed_while_unreadable(tmp_path, spec, path):
    """A full run that cannot read `path` (its item a stored failure); the file restored."""
    db = tmp_path / "r.db"
    saved = tmp_path / "saved.flac"
    shutil.move(path, saved)
    run_sweep(spec, db, progress=False, device="cpu")
    shutil.move(saved, path)
    return db


def _other_audio_then_resume(db, spec, iid, path, other):
    """Other audio under the failed item's path: a plain resume keeps the failure (computed on
    no audio), and --retry-failed computes it on that audio and records it."""
    shutil.copy(other, path)
    run_sweep(spec, db, progress=False, device="cpu")       # refused before: 'other audio'
    ok, audio = stored_item_audio(db, iid)
    assert not ok and is_unreadable(audio)
    run_sweep(spec, db, progress=False, device="cpu", retry_items=True)
    ok, audio = stored_item_audio(db, iid)
    assert ok and audio == file_digest(path)


def test_a_racing_round_without_the_failed_shard_records_no_audio(tmp_path, bundled_librispeech):
    spec, ids, paths = _corpus(tmp_path, bundled_librispeech, batch_size=1)
    db = _failed_while_unreadable(tmp_path, spec, paths[0])
    # --retry-failed, but the round's shards leave out the failed item's (and the race stops)
    _run_shards(spec, db, lambda sh: ids[0] not in sh.item_ids, retry_items=True)
    ok, audio = stored_item_audio(db, ids[0])
    assert not ok and is_unreadable(audio)          # still the failure computed on no audio
    _other_audio_then_resume(db, spec, ids[0], paths[0], paths[1])


def test_a_retry_killed_before_the_failed_item_records_no_audio(tmp_path, bundled_librispeech,
                                                                monkeypatch):
    spec, ids, paths = _corpus(tmp_path, bundled_librispeech, batch_size=1)
    db = _failed_while_unreadable(tmp_path, spec, paths[0])

    def killed(*a, **k):                            # Ctrl-C / SIGTERM as the retry starts
        raise KeyboardInterrupt
    with monkeypatch.context() as mp:
        mp.setattr(AsrTask, "run_shard", killed)
        with pytest.raises(KeyboardInterrupt):
            run_sweep(spec, db, progress=False, device="cpu", retry_items=True)
    ok, audio = stored_item_audio(db, ids[0])
    assert not ok and is_unreadable(audio)
    _other_audio_then_resume(db, spec, ids[0], paths[0], paths[1])


def test_a_failure_replaced_by_a_regrouped_shard_records_its_audio(tmp_path,
                                                                   bundled_librispeech):
    """Two items a shard (longest first): the unreadable item (no duration) is grouped last
    alone, readable it is the longest, grouped with another whose result was not stored yet,
    so a plain resume computes that new shard and its result replaces the stored failure."""
    spec, ids, paths = _corpus(tmp_path, bundled_librispeech, batch_size=2)
    iid, path = ids[-1], paths[-1]                  # the longest of the three
    db = tmp_path / "r.db"
    saved = tmp_path / "saved.flac"
    shutil.move(path, saved)
    _run_shards(spec, db, lambda sh: sh.item_ids == (iid,))   # only its failure stored
    shutil.move(saved, path)
    run_sweep(spec, db, progress=False, device="cpu")
    ok, audio = stored_item_audio(db, iid)
    assert ok and audio == file_digest(path)        # computed on it: the record says so
    shutil.copy(paths[0], path)                     # other audio: its stored result is not of it
    with pytest.raises(StoreError, match=f"other audio \\(item {iid}\\)"):
        run_sweep(spec, db, progress=False, device="cpu")
