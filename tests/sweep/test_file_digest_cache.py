"""Every sweep start read and hashed every item's audio file (39b75ca: the store records what
the items are), however often the same unchanged corpus had been read: 34.5 MB for the 220
bundled utterances, tens of GB for a full corpus, at each start of each runner. A file whose
stat signature (device, inode, size, mtime, ctime) is unchanged since a run here hashed it now
reuses that digest (the store's file_digests); a file changed since is read again, and one
changed just before it was read (models.file_digest.SETTLE_NS, the converted-model cache's rule,
which the digests share) is not remembered."""
from __future__ import annotations

import os
from types import SimpleNamespace

from speechbudget.models import file_digest
from speechbudget.sweep import profile
from speechbudget.sweep.profile import item_audio


def _dataset(tmp_path, n=3):
    items = []
    for i in range(n):
        p = tmp_path / f"{i}.flac"
        p.write_bytes(bytes([i]) * (10 + i))
        items.append(SimpleNamespace(id=f"u{i}", audio=p))
    return SimpleNamespace(items=items)


def _reads(monkeypatch):
    """The files profile reads (hashes) from now on."""
    opened = []
    real = profile.sha256_file

    def counting(path):
        opened.append(str(path))
        return real(path)
    monkeypatch.setattr(profile, "sha256_file", counting)
    return opened


def test_an_unchanged_file_is_not_read_again(tmp_path, monkeypatch):
    ds = _dataset(tmp_path)
    monkeypatch.setattr(file_digest, "SETTLE_NS", 0)  # the files were just written
    learned: dict = {}
    first = item_audio(ds, {}, learned)
    assert len(learned) == 3
    opened = _reads(monkeypatch)
    assert item_audio(ds, learned, {}) == first and opened == []
    # a change (here a new size) is read again, whatever was remembered
    (tmp_path / "1.flac").write_bytes(b"other audio")
    again = item_audio(ds, learned, {})
    assert opened == [str(tmp_path / "1.flac")]
    assert again["u1"] != first["u1"] and again["u0"] == first["u0"]


def test_a_file_changed_just_before_it_is_read_is_not_remembered(tmp_path, monkeypatch):
    ds = _dataset(tmp_path)
    monkeypatch.setattr(file_digest, "SETTLE_NS", 3600 * 10**9)
    learned: dict = {}
    item_audio(ds, {}, learned)
    assert learned == {}


def test_a_remembered_digest_is_used_only_with_the_same_signature(tmp_path, monkeypatch):
    ds = _dataset(tmp_path, 1)
    monkeypatch.setattr(file_digest, "SETTLE_NS", 0)
    learned: dict = {}
    item_audio(ds, {}, learned)
    (key, (sig, digest)), = learned.items()
    assert item_audio(ds, {key: (sig, "remembered")}, {}) == {"u0": "remembered"}
    os.utime(tmp_path / "0.flac")                # touched: status-change time moves
    assert item_audio(ds, {key: (sig, "remembered")}, {}) == {"u0": digest}


def test_the_store_keeps_them_between_runs(tmp_path, monkeypatch, bundled_librispeech):
    import json

    import yaml

    from speechbudget.sweep import load_spec
    from speechbudget.sweep.driver import Sweep
    from speechbudget.sweep.executors import make_executor
    from speechbudget.sweep.store import ResultsStore
    rows = [json.loads(x) for x in (bundled_librispeech / "manifest.jsonl").read_text()
            .splitlines()[:2]]
    m = tmp_path / "m.jsonl"
    m.write_text("".join(json.dumps({"id": r["id"], "text": r["text"],
                                     "audio": str(bundled_librispeech / r["audio"])}) + "\n"
                         for r in rows))
    spec_path = tmp_path / "s.yaml"
    spec_path.write_text(yaml.safe_dump({"task": "asr", "models": ["tiny.en"], "plan": "grid",
                                         "axes": {"window": [10]}, "data": str(m),
                                         "task_options": {"warmup": False}}))
    monkeypatch.setattr(file_digest, "SETTLE_NS", 0)
    opened = _reads(monkeypatch)
    for _ in range(2):
        ex = make_executor("local", None, "cpu", None, 0)
        with ResultsStore(tmp_path / "r.db") as store:
            sweep = Sweep(load_spec(spec_path), store, ex, "cpu", progress=False,
                          retry_failed=True)
            sweep.finish([], "finished", 0.0)
        ex.close()
    assert len(opened) == 2                        # the first run's reads only
