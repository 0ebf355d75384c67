"""A resume refused for a changed spec named the context's internal keys, not the spec's field
or its values: sweep run with max_items 6 -> 4 said 'already stored with a different
data_content, dataset, n_items, task_options', with batch_size 2 -> 3 'a different
task_options' (which of them, and from what to what, left to guess). It now names each task
option with both values, and the items' count."""
from __future__ import annotations

import pytest

from speechbudget.sweep import run_sweep
from speechbudget.sweep.store_guard import StoreError


def _refusal(write_spec, tmp_path, **keys) -> str:
    db = tmp_path / "r.db"
    if not db.exists():
        run_sweep(write_spec("a"), db, allow_runner=True)
    with pytest.raises(StoreError) as e:
        run_sweep(write_spec("b", **keys), db, allow_runner=True)
    return str(e.value)


def test_a_changed_task_option_is_named_with_both_values(write_spec, tmp_path):
    msg = _refusal(write_spec, tmp_path, task_options={"n_items": 6, "batch_size": 3})
    assert "a different task_options.batch_size (stored 2, now 3);" in msg
    assert "\n" not in msg and "data_content" not in msg


def test_fewer_items_name_the_counts_and_the_option(write_spec, tmp_path):
    msg = _refusal(write_spec, tmp_path, task_options={"n_items": 4, "batch_size": 2})
    assert "a different dataset (6 items stored, 4 now: the items that data and " \
           "task_options.max_items select) and task_options.n_items (stored 6, now 4);" in msg
    assert "data_content" not in msg and "n_items," not in msg


def test_an_added_task_option_is_named_absent_before(write_spec, tmp_path):
    msg = _refusal(write_spec, tmp_path,
                   task_options={"n_items": 6, "batch_size": 2, "delay_s": 0.0})
    assert "task_options.delay_s (stored absent, now 0.0)" in msg
