"""Two runners on one results store (`sweep run` twice, or Ray workers' driver and another run):
the record of the audio each stored result was computed on (a configuration's
data_content.audio, `store_data`) must not lose what one runner wrote because another wrote
the same row from what it had read before.

A runner's `Sweep.register` checked the stored context (`store_data.check_data`: it reads the
record) outside any transaction, then `register_config` wrote the context it had merged from
that read. A runner that stored, between the two, a result computed on an item's audio where
the record said 'unreadable' (`record_stored_audio`, with `merge_retried_items` or
`commit_shard`) had its record overwritten by the older one: the record said 'unreadable'
again under an ok result, and other audio put under that path later was taken as the same
(results of two recordings mixed). The check now runs in `register_config`'s BEGIN IMMEDIATE
transaction, so the other runner's write waits for it (or it reads what the other wrote).

The interleaving is made deterministic: runner B's read of what is stored runs runner A's
whole write just after it, A with no busy timeout (so where B already holds the
write lock A is refused at once, and writes again after B, as its busy timeout would have it
wait)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from speechbudget.axes import Config
from speechbudget.records import ItemResult
from speechbudget.sweep.driver import Sweep
from speechbudget.sweep.profile import audio_digest
from speechbudget.sweep.store import ResultsStore
from speechbudget.sweep.store_data import check_data
from speechbudget.sweep.store_guard import StoreError

C = Config(task="asr", model="tiny.en", window=10.0)
BASE = {"task": "asr", "runner": "local", "task_options": {}, "dataset": "ids-1", "n_items": 2}
FIRST = {"i1": "unreadable", "i2": "d2"}       # the first run could not read i1's file
NOW = {"i1": "d1", "i2": "d2"}                  # both runners now can
OTHER = {"i1": "d1-other", "i2": "d2"}          # later, other audio under i1's path


def _context(audio: dict[str, str]) -> dict:
    return {**BASE, "data_content": {"audio": audio_digest(audio), "references": "r"}}


def _first_run(path):
    """A store holding C with i1 failed (computed on no audio) and i2 ok."""
    with ResultsStore(path) as st:
        run = st.start_run({"name": "first"}, {})
        st.save_item_audio(audio_digest(FIRST), FIRST)
        st.register_config(C, 1.0, _context(FIRST), run)
        st.commit_shard(C.key, "s0", [ItemResult("i1", ok=False, error="unreadable"),
                                      ItemResult("i2", ok=True, errors=0, n_ref=3)],
                        run, audio=FIRST)


def _recorded(path) -> dict[str, str]:
    with ResultsStore(path, readonly=True) as st:
        return st.item_audio(st.config_context(C.key)["data_content"]["audio"])


def _run_after_read(store: ResultsStore, method: str, write) -> list[str]:
    """Have `write()` run just after `store` first calls its read `method`; returns the list
    that says what happened to it ('written' or 'refused': the reader held the write lock)."""
    read, happened = getattr(store, method), []

    def hooked(*args):
        out = read(*args)
        if not happened:
            try:
                write()
                happened.append("written")
            except StoreError as e:
                assert "locked" in str(e)
                happened.append("refused")
        return out
    setattr(store, method, hooked)
    return happened


def _retry_i1(st_a: ResultsStore, run_a: int) -> None:
    """Runner A (--retry-failed): i1 computed on its audio, stored with its record."""
    n = st_a.merge_retried_items(C.key, "s0", [ItemResult("i1", ok=True, errors=1, n_ref=4)],
                                 run_a, audio=NOW)
    assert n == 1


def test_a_result_recorded_while_another_runner_registers_is_kept(tmp_path):
    path = tmp_path / "r.db"
    _first_run(path)
    with ResultsStore(path) as st_a, ResultsStore(path) as st_b:
        run_a = st_a.start_run({"name": "a"}, {})
        run_b = st_b.start_run({"name": "b"}, {})
        st_a.db.execute("PRAGMA busy_timeout = 0")
        # between B's last read of what is stored (its stored failures) and its write
        happened = _run_after_read(st_b, "failed_items", lambda: _retry_i1(st_a, run_a))
        # runner B registers C as the driver does (its own check of the stored data included)
        runner_b = SimpleNamespace(task=object(), context=_context(NOW), store=st_b,
                                   item_audio=NOW, run_id=run_b, recompute_stale=False)
        Sweep.register(runner_b, C, {C.key: 1.0})
        if happened == ["refused"]:          # A waited for B's transaction: it writes now
            _retry_i1(st_a, run_a)
        assert happened in (["written"], ["refused"])
    assert _recorded(path) == NOW    # i1's stored ok result was computed on d1: recorded
    with ResultsStore(path) as st:   # so other audio under i1's path is told apart
        with pytest.raises(StoreError, match=r"other audio \(item i1\)"):
            check_data(st, C, _context(OTHER), OTHER)


def test_two_runners_storing_at_once_both_keep_their_audio(tmp_path):
    """Each runner's `record_stored_audio` reads the record in the transaction that writes it:
    both items' audio is recorded, whichever commits first."""
    path = tmp_path / "r.db"
    with ResultsStore(path) as st:
        run = st.start_run({"name": "first"}, {})
        none = {"i1": "unreadable", "i2": "unreadable"}
        st.save_item_audio(audio_digest(none), none)
        st.register_config(C, 1.0, _context(none), run)
        st.commit_shard(C.key, "s1", [ItemResult("i1", ok=False, error="unreadable")], run,
                        audio=none)
        st.commit_shard(C.key, "s2", [ItemResult("i2", ok=False, error="unreadable")], run,
                        audio=none)
    with ResultsStore(path) as st_a, ResultsStore(path) as st_b:
        run_a = st_a.start_run({"name": "a"}, {})
        run_b = st_b.start_run({"name": "b"}, {})
        st_a.db.execute("PRAGMA busy_timeout = 0")

        def a_stores_i1():
            st_a.merge_retried_items(C.key, "s1", [ItemResult("i1", ok=True, n_ref=1)],
                                     run_a, audio={"i1": "d1", "i2": "unreadable"})
        happened = _run_after_read(st_b, "config_context", a_stores_i1)
        st_b.merge_retried_items(C.key, "s2", [ItemResult("i2", ok=True, n_ref=1)], run_b,
                                 audio={"i1": "unreadable", "i2": "d2"})
        if happened == ["refused"]:
            a_stores_i1()
        assert happened in (["written"], ["refused"])
    assert _recorded(path) == NOW


def test_two_runners_registering_a_new_configuration_at_once_both_go_on(tmp_path):
    """Runner B cannot read i1's file, runner A can; both start on a new store at once. B's
    check saw no stored context, A then registered C with its record, and B's register_config
    refused C as 'already stored with a different data_content' though its data check, run
    on what A stored, accepts it (an unreadable file is no difference)."""
    path = tmp_path / "r.db"
    with ResultsStore(path) as st_a, ResultsStore(path) as st_b:
        run_a = st_a.start_run({"name": "a"}, {})
        run_b = st_b.start_run({"name": "b"}, {})
        st_a.db.execute("PRAGMA busy_timeout = 0")
        runner_a = SimpleNamespace(task=object(), context=_context(NOW), store=st_a,
                                   item_audio=NOW, run_id=run_a, recompute_stale=False)
        runner_b = SimpleNamespace(task=object(), context=_context(FIRST), store=st_b,
                                   item_audio=FIRST, run_id=run_b, recompute_stale=False)
        st_a.save_item_audio(audio_digest(NOW), NOW)
        st_b.save_item_audio(audio_digest(FIRST), FIRST)
        happened = _run_after_read(st_b, "config_context",
                                   lambda: Sweep.register(runner_a, C, {C.key: 1.0}))
        Sweep.register(runner_b, C, {C.key: 1.0})
        if happened == ["refused"]:
            Sweep.register(runner_a, C, {C.key: 1.0})
        assert happened in (["written"], ["refused"])
    assert _recorded(path) == NOW    # what A could read is known; B's unreadable file is not


class _Task:
    """Aggregates as a task does (WER over the ok items, the failed ones counted); `between`
    runs once after the items are read, before the metrics are written."""

    def __init__(self, between=None):
        self.between = between

    def aggregate(self, config, items):
        from speechbudget.records import ConfigMetrics
        if self.between is not None:
            between, self.between = self.between, None
            between()
        ok = [r for r in items if r.ok]
        return ConfigMetrics(config.key, "asr", "wer",
                             sum(r.errors for r in ok) / max(1, sum(r.n_ref for r in ok)),
                             n_items=len(ok), n_failed=len(items) - len(ok))


def _aggregator(store: ResultsStore, task: _Task, run_id: int):
    """A runner's `Sweep._aggregate` over `store`."""
    runner = SimpleNamespace(store=store, task=task, run_id=run_id)
    runner._aggregate = lambda c, shards: Sweep._aggregate(runner, c, shards)
    runner._fail = lambda c, why: pytest.fail(why)
    return runner


def test_metrics_aggregated_from_items_another_runner_retried_meanwhile_are_not_kept(tmp_path):
    """Runner A aggregated C's items (i1 failed) while runner B (--retry-failed) stored i1's
    new ok result and aggregated all of them: A's metrics, of the items before B's, replaced
    B's and C stayed 'done' with them, so every later run reused metrics that count i1 as
    failed though its stored result is ok. A's metrics are now written only where the items
    it aggregated are still those stored; else it aggregates again."""
    path = tmp_path / "r.db"
    _first_run(path)
    shards = [SimpleNamespace(shard_id="s0", item_ids=("i1", "i2"))]
    with ResultsStore(path) as st_a, ResultsStore(path) as st_b:
        run_a = st_a.start_run({"name": "a"}, {})
        run_b = st_b.start_run({"name": "b"}, {})

        def b_retries_and_aggregates():
            _retry_i1(st_b, run_b)
            m = _aggregator(st_b, _Task(), run_b)._aggregate(C, shards)
            assert m.n_failed == 0
        a = _aggregator(st_a, _Task(between=b_retries_and_aggregates), run_a)
        m = a._aggregate(C, shards)
        assert (m.n_items, m.n_failed) == (2, 0)       # what A reports is what is stored
    with ResultsStore(path, readonly=True) as st:
        ((config, stored),) = st.metrics()
        assert (stored.n_items, stored.n_failed) == (2, 0)
        assert stored.value == pytest.approx(1 / 7)   # i1: 1 error in 4, i2: 0 in 3
