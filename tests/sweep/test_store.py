"""The results store: atomic shards, metrics round trip, conflicts, export, bad files."""
from __future__ import annotations

import csv
import sqlite3

import pyarrow.parquet as pq
import pytest

from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.sweep import ResultsStore, StoreError

C = Config(task="asr", model="tiny.en", window=20)
CTX = {"task": "asr", "dataset": "abc", "task_options": {}}


def items(n, shard="s0"):
    return [ItemResult(f"{shard}-{i}", ok=i % 3 != 2, prediction="a b", reference="a c",
                       errors=1, n_ref=2, decoded_tokens=3, audio_s=1.5, gflops=2.0,
                       timings={"encoder": 0.1}, error=None if i % 3 != 2 else "bad.flac: empty",
                       extra={"k": [1, 2]}) for i in range(n)]


def test_shards_items_and_metrics_round_trip(tmp_path):
    with ResultsStore(tmp_path / "r.db") as st:
        run = st.start_run({"name": "t"}, {"cpu": "x"})
        st.register_config(C, 12.5, CTX, run)
        st.commit_shard(C.key, "s0", items(3), run)
        st.fail_shard(C.key, "s1", "RuntimeError: boom", run, attempts=3)
        assert st.done_shards(C.key) == {"s0"}
        assert st.shard_status(C.key)["s1"] == {"status": "failed", "attempts": 3,
                                                "reason": "RuntimeError: boom"}
        assert st.items(C.key) == items(3)
        assert st.metrics() == []  # not finished yet
        m = ConfigMetrics(C.key, "asr", "wer", 0.25, n_items=3, gflops=2.0, extra={"wa": 1})
        st.set_metrics(C.key, m, run)
        st.finish_run(run)
    st = ResultsStore(tmp_path / "r.db", readonly=True)
    assert st.metrics() == [(C, m)] and st.metrics(task="ser") == []
    assert st.environment(run) == {"cpu": "x"} and st.runs()[0]["status"] == "finished"
    assert st.journal_mode() == "wal"


def test_recommitting_a_shard_replaces_it_never_duplicates(tmp_path):
    st = ResultsStore(tmp_path / "r.db")
    st.register_config(C, None, CTX, None)
    st.commit_shard(C.key, "s0", items(4), None)
    st.commit_shard(C.key, "s0", items(4), None)
    assert st.n_items(C.key) == 4


def test_a_shard_commit_is_atomic(tmp_path):
    st = ResultsStore(tmp_path / "r.db")
    st.register_config(C, None, CTX, None)
    bad = items(3) + [ItemResult(None, ok=True)]  # the 4th row violates NOT NULL mid-transaction
    with pytest.raises(sqlite3.IntegrityError):
        st.commit_shard(C.key, "s0", bad, None)
    assert st.n_items(C.key) == 0 and st.done_shards(C.key) == set()


def test_same_configuration_other_data_is_refused(tmp_path):
    st = ResultsStore(tmp_path / "r.db")
    st.register_config(C, None, CTX, None)
    st.register_config(C, None, dict(CTX), None)  # same context: fine
    with pytest.raises(StoreError, match="different dataset"):
        st.register_config(C, None, {**CTX, "dataset": "zzz"}, None)


def test_export_csv_and_parquet(tmp_path):
    st = ResultsStore(tmp_path / "r.db")
    st.register_config(C, 1.0, CTX, None)
    st.commit_shard(C.key, "s0", items(2), None)
    st.set_metrics(C.key, ConfigMetrics(C.key, "asr", "wer", 0.5, n_items=2), None)
    paths = st.export_csv(tmp_path / "csv") + st.export_parquet(tmp_path / "pq")
    assert {p.name for p in paths} >= {"items.csv", "metrics.csv", "items.parquet",
                                        "metrics.parquet", "runs.parquet"}
    rows = list(csv.DictReader((tmp_path / "csv" / "metrics.csv").open()))
    assert rows[0]["config_key"] == C.key and float(rows[0]["value"]) == 0.5
    t = pq.read_table(tmp_path / "pq" / "items.parquet")
    assert t.num_rows == 2 and set(t.column("item_id").to_pylist()) == {"s0-0", "s0-1"}


def test_bad_store_files(tmp_path):
    with pytest.raises(StoreError, match="no such results store"):
        ResultsStore(tmp_path / "none.db", readonly=True)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(StoreError, match="junk.db: not a speechbudget results store"):
        ResultsStore(junk)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE x (a)").connection.commit()
    with pytest.raises(StoreError, match="other.db"):
        ResultsStore(other, readonly=True)


def test_runners_opening_one_new_file_at_once_all_see_a_stamped_store(tmp_path):
    """Tables and stamp are written in one transaction: a second opener never sees our tables
    without the stamp (which it would refuse as another tool's database)."""
    import threading

    for attempt in range(10):
        path = tmp_path / f"new{attempt}.db"
        barrier = threading.Barrier(6)
        errors: list[BaseException] = []

        def open_it() -> None:
            barrier.wait()
            try:
                ResultsStore(path).close()
            except BaseException as e:  # noqa: BLE001 - collected and asserted below
                errors.append(e)

        threads = [threading.Thread(target=open_it) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[0]
        with ResultsStore(path, readonly=True) as store:
            assert store.journal_mode() == "wal"


def test_a_foreign_database_is_left_byte_for_byte_unchanged(tmp_path):
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE x (a)")
    con.commit()
    con.close()
    before = other.read_bytes()
    with pytest.raises(StoreError, match="refusing to modify it"):
        ResultsStore(other)
    assert other.read_bytes() == before
    assert not (tmp_path / "other.db-wal").exists()
