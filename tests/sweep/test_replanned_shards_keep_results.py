"""A task may group the same items into other shards from one run to the next: AsrTask orders
them by duration, read from the file's header when the manifest has none, and an unreadable
file has no duration, so it moves to the last shard. The shards of the new grouping had new
ids, so a finished sweep run again with one file missing recomputed every shard whose grouping
changed and stored the missing item's failure over its ok result (tiny.en, 6 utterances, batch
2: '4 shards run', WER 0.143 over 6 items became 0.1 over 5); and a sweep run again after the
file was restored recomputed items already stored ok, and the failed one without
--retry-failed. A shard whose items all have a stored result is now adopted with them
(ResultsStore.adopt_stored_shard), and an item stored ok is never overwritten by a new shard."""
from __future__ import annotations

from pathlib import Path

import pytest

from speechbudget.sweep import run_sweep
from speechbudget.sweep.store import ResultsStore

RUNNER = f"{Path(__file__).resolve().parent / 'file_order_task.py'}:FileOrderTask"


@pytest.fixture
def files(tmp_path, monkeypatch, bundled_librispeech):
    folder = tmp_path / "files"
    folder.mkdir()
    import json
    rows = [json.loads(x) for x in (bundled_librispeech / "manifest.jsonl").read_text()
            .splitlines()[:6]]
    for n, r in enumerate(rows):  # distinct sizes: the grouping follows them
        (folder / f"{r['id']}.bin").write_bytes(b"x" * (100 * (n + 1)))
    monkeypatch.setenv("FILE_ORDER_DIR", str(folder))
    monkeypatch.setenv("FILE_ORDER_LOG", str(tmp_path / "evaluated.log"))
    return folder, [r["id"] for r in rows]


def _spec(bundled_librispeech):
    return {"task": "asr", "data": str(bundled_librispeech), "runner": RUNNER,
            "task_options": {"n_items": 6, "batch_size": 2}, "models": ["tiny.en"],
            "axes": {"window": [30], "stride": [1, 2]}, "plan": "grid"}


def _run(spec, db, **kw):
    return run_sweep(spec, db, allow_runner=True, device="cpu", **kw)


def _items(db):
    with ResultsStore(db, readonly=True) as st:
        return {(c.key, r.item_id): r.ok for c, _ in st.metrics() for r in st.items(c.key)}, \
            {c.key: (m.value, m.n_items, m.n_failed) for c, m in st.metrics()}


def _evaluated(tmp_path):
    log = tmp_path / "evaluated.log"
    return log.read_text().splitlines() if log.exists() else []


def test_a_file_missing_on_resume_keeps_the_stored_results(tmp_path, files,
                                                             bundled_librispeech):
    folder, ids = files
    spec, db = _spec(bundled_librispeech), tmp_path / "r.db"
    _run(spec, db)
    before = _items(tmp_path / "r.db")
    (tmp_path / "evaluated.log").unlink()
    (folder / f"{ids[3]}.bin").unlink()            # moves to the last shard: new groupings
    s = _run(spec, db)
    assert _evaluated(tmp_path) == []
    assert s.shards_run == 0 and s.finished == 2 and s.failed == 0
    assert _items(db) == before                     # the ok results, not the failures


def test_a_file_restored_reruns_only_its_failed_item_and_only_when_asked(tmp_path, files,
                                                                         bundled_librispeech):
    folder, ids = files
    spec, db = _spec(bundled_librispeech), tmp_path / "r.db"
    data = (folder / f"{ids[3]}.bin").read_bytes()
    (folder / f"{ids[3]}.bin").unlink()
    _run(spec, db)
    _, metrics = _items(db)
    assert all(v[2] == 1 for v in metrics.values())
    (folder / f"{ids[3]}.bin").write_bytes(data)
    (tmp_path / "evaluated.log").unlink()
    s = _run(spec, db)                              # no --retry-failed: nothing runs
    assert _evaluated(tmp_path) == [] and s.shards_run == 0
    assert all(v[2] == 1 for v in _items(db)[1].values())
    s = _run(spec, db, retry_items=True)            # --retry-failed: that item only
    assert sorted(x.split()[1] for x in _evaluated(tmp_path)) == [ids[3], ids[3]]
    clean = tmp_path / "clean.db"
    (tmp_path / "evaluated.log").unlink()
    _run(spec, clean)
    assert _items(db)[1] == _items(clean)[1]


def test_a_new_shard_never_overwrites_an_item_stored_ok(tmp_path):
    """A shard partly stored under another grouping (a run interrupted before the rest) is
    computed, but its item stored ok keeps that result."""
    from speechbudget.records import ItemResult
    with ResultsStore(tmp_path / "r.db") as st:
        st.commit_shard("k", "old", [ItemResult("a", True, prediction="kept", errors=0, n_ref=1),
                                     ItemResult("b", False, error="unreadable")], None)
        st.commit_shard("k", "new", [ItemResult("a", False, error="unreadable"),
                                     ItemResult("b", True, prediction="b now", errors=0,
                                                n_ref=1),
                                     ItemResult("c", True, prediction="c", errors=0,
                                                n_ref=1)], None)
        got = {r.item_id: (r.ok, r.prediction) for r in st.items("k")}
        assert got == {"a": (True, "kept"), "b": (True, "b now"), "c": (True, "c")}
        assert st.failed_items("k") == {}
