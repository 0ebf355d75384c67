"""--recompute-stale recomputes a configuration stored by an older rule also where the stored
context differs in what the data check accepts (`store_data.check_data`'s adopt: a store written
before the data record `data_content` existed, or an audio record that differs only by an
unreadable file). register_config took the stale path only when `result_version` was the one
difference, so such a configuration was refused with 'already stored with a different
result_version and data_content', even with --recompute-stale, instead of being recomputed (or,
without the option, named stale with the option to pass)."""
from __future__ import annotations

import pytest

from speechbudget.axes import Config
from speechbudget.records import ItemResult
from speechbudget.sweep import ResultsStore, StoreError

C = Config(task="asr", model="tiny.en", window=10.0)
# as written before 39b75ca (no data_content) under rule 1 (never written)
OLD = {"dataset": "d1", "n_items": 2, "task": "asr", "task_options": {"batch_size": 2}}
NEW = {**OLD, "data_content": {"audio": "a1", "references": "r1"}, "result_version": 2}
ADOPT = ("data_content", "data_options")       # what check_data returns for such a store


def _store(tmp_path):
    st = ResultsStore(tmp_path / "r.db")
    run = st.start_run({"name": "s"}, {"hostname": "test"})
    st.register_config(C, 1.0, OLD, run)
    st.commit_shard(C.key, "s0", [ItemResult("u1", True, errors=1, n_ref=5),
                                  ItemResult("u2", True, errors=0, n_ref=5)], run)
    return st, run


def test_an_older_rule_is_named_stale_though_the_data_record_is_new(tmp_path):
    st, run = _store(tmp_path)
    with st:
        with pytest.raises(StoreError, match=r"results of rule 1 .*by rule 2.*--recompute-stale"):
            st.register_config(C, 1.0, NEW, run, adopt=ADOPT)
        assert st.n_items(C.key) == 2                  # nothing discarded without the option


def test_recompute_stale_discards_it_and_takes_the_new_record(tmp_path):
    st, run = _store(tmp_path)
    with st:
        st.register_config(C, 1.0, NEW, run, recompute_stale=True, adopt=ADOPT)
        assert st.n_items(C.key) == 0 and not st.done_shards(C.key)
        assert st.config_context(C.key) == NEW


def test_another_difference_is_still_refused_by_name(tmp_path):
    st, run = _store(tmp_path)
    with st:
        other = {**NEW, "task_options": {"batch_size": 3}}
        with pytest.raises(StoreError, match=r"task_options\.batch_size \(stored 2, now 3\)") as e:
            st.register_config(C, 1.0, other, run, recompute_stale=True, adopt=ADOPT)
        assert "data_content" not in str(e.value)      # accepted by the data check: not named
        assert st.n_items(C.key) == 2
