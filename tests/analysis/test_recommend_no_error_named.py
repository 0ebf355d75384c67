"""The note on configurations without a finite error names them and says why: it read '1
configuration(s) without a finite error ignored', leaving the reader to find which in the store.
Now: up to three by label, then 'and N more', each with why (every item failed: how many and the
failure reason the stored items give; items without reference words; no value)."""
from __future__ import annotations

import math

from typer.testing import CliRunner

from speechbudget.analysis import recommend
from speechbudget.analysis.source import load_results
from speechbudget.axes import Config
from speechbudget.cli.app import app
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.sweep.store import ResultsStore


def _store(path, n_bad=1):
    st = ResultsStore(path)
    run = st.start_run({"name": "fail"}, {"hostname": "test"})
    for w in (10.0, 20.0):
        c = Config(task="asr", model="tiny.en", window=w)
        st.register_config(c, w, {"dataset": "a"}, run)
        items = [ItemResult(f"u{i}", True, errors=1 + i % 2, n_ref=10) for i in range(6)]
        st.commit_shard(c.key, "s0", items, run)
        st.set_metrics(c.key, ConfigMetrics(c.key, "asr", "wer", 9 / 60, n_items=6, gflops=w),
                       run)
    for j in range(n_bad):
        c = Config(task="asr", model="base.en", window=5.0 + j)
        st.register_config(c, 50.0 + j, {"dataset": "a"}, run)
        st.commit_shard(c.key, "s0", [ItemResult(f"u{i}", False,
                                                 error="AudioError: u.flac: not readable" if i
                                                 else "MemoryError: out of memory")
                                      for i in range(6)], run)
        st.set_metrics(c.key, ConfigMetrics(c.key, "asr", "wer", math.nan, n_failed=6,
                                            gflops=50.0 + j), run)
    st.finish_run(run)
    st.close()
    return path


def test_the_configuration_without_an_error_is_named_with_why(tmp_path):
    loaded = load_results(_store(tmp_path / "r.db"))
    rec = recommend(loaded.results, items=loaded.items)
    note = next(n for n in rec.notes if "without a finite error" in n)
    assert note == ("1 configuration(s) without a finite error ignored: base.en 5s (every item "
                    "failed, 6 items: AudioError: u.flac: not readable (5 of them; 1 other "
                    "reason(s)))"), note
    r = CliRunner().invoke(app, ["recommend", str(tmp_path / "r.db")], terminal_width=400)
    assert r.exit_code == 0, r.output
    assert "base.en 5s (every item failed, 6 items: AudioError" in " ".join(r.output.split())


def test_past_three_the_rest_are_counted(tmp_path):
    loaded = load_results(_store(tmp_path / "r.db", n_bad=5))
    note = next(n for n in recommend(loaded.results, items=loaded.items).notes
                if "without a finite error" in n)
    assert note.startswith("5 configuration(s) without a finite error ignored: base.en 5s (")
    assert "base.en 6s (" in note and "base.en 7s (" in note and "base.en 8s" not in note
    assert note.endswith("; and 2 more"), note


def test_without_items_the_metrics_say_why(pair):
    c, m = pair("base.en", 5.0, err=0.1, gflops=5.0)
    bad = ConfigMetrics(c.key, "asr", "wer", math.nan, n_items=0, n_failed=4, gflops=5.0)
    rec = recommend([pair("tiny.en", 10.0, err=0.1, gflops=1.0), (c, bad)])
    assert "base.en 5s (every item failed, 4 items)" in " ".join(rec.notes), rec.notes
