"""A SER store in which one clip id has two reference labels under two configurations (the
manifest was relabelled between runs, or another data set whose clip ids repeat these was run
into the same store): `recommend` paired the clips and scored both configurations against the
first one's labels, with exit 0. Refused where the store is read, as a WER item with two
reference counts is (exit 4)."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.analysis.source import check_pairable
from speechbudget.axes import Config
from speechbudget.cli.app import app
from speechbudget.paired import PairingError
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.sweep.store import ResultsStore

LABELS = ("ANG", "HAP", "SAD")


def _items(shift: int, n: int = 12):
    out = []
    for i in range(n):
        ref = LABELS[(i + shift) % 3]
        out.append(ItemResult(f"c{i}", True, prediction=LABELS[i % 3], reference=ref,
                              errors=int(ref != LABELS[i % 3]), n_ref=1))
    return out


def _store(path, shift_b):
    st = ResultsStore(path)
    run = st.start_run({"name": "relabelled"}, {"hostname": "test"})
    for w, shift in ((1.0, 0), (2.0, shift_b)):
        c = Config(task="ser", model="tiny.en", window=w)
        st.register_config(c, w, {"dataset": "x"}, run)
        items = _items(shift)
        st.commit_shard(c.key, "s0", items, run)
        ua = sum(1 - r.errors for r in items) / len(items)
        st.set_metrics(c.key, ConfigMetrics(c.key, "ser", "ua", ua, n_items=len(items),
                                            gflops=w), run)
        st.set_config_status(c.key, "done")
    st.finish_run(run)
    st.close()
    return path


def test_recommend_refuses_a_clip_with_two_labels(tmp_path):
    r = CliRunner().invoke(app, ["recommend", str(_store(tmp_path / "r.db", 1))])
    assert r.exit_code == 4, r.output
    assert "item c0: label 'ANG' under one configuration (tiny.en 1s" in r.output, r.output
    assert "'HAP' under the other (tiny.en 2s" in r.output, r.output


def test_the_same_labels_pair(tmp_path):
    r = CliRunner().invoke(app, ["recommend", str(_store(tmp_path / "r.db", 0))])
    assert r.exit_code == 0, r.output


def test_check_pairable_leaves_failed_clips_out():
    a, b = Config(task="ser", model="tiny.en", window=1.0), Config(task="ser", model="tiny.en",
                                                                  window=2.0)
    ma, mb = (ConfigMetrics(c.key, "ser", "ua", 0.5, n_items=1) for c in (a, b))
    items = {a.key: [ItemResult("c0", True, prediction="ANG", reference="ANG", errors=0,
                                n_ref=1)],
             b.key: [ItemResult("c0", False, reference=None, error="unreadable")]}
    check_pairable([(a, ma), (b, mb)], items)
    items[b.key] = [ItemResult("c0", True, prediction="ANG", reference="SAD", errors=1, n_ref=1)]
    with pytest.raises(PairingError, match="item c0: label 'ANG'"):
        check_pairable([(a, ma), (b, mb)], items)
