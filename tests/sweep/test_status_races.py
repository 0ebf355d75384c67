"""Two runners on one results store: a configuration's status written without looking at what
is stored must not replace another runner's 'done' (its metrics are shown only while it is
'done', `ResultsStore.metrics`).

- Racing (`run_race`) read a round's items, decided which configurations to stop, then wrote
  'eliminated' over whatever was stored: a configuration another runner (a plain sweep on the
  same store) finished in between lost its status 'done', so its metrics were hidden.
- `Sweep._fail` wrote 'failed' after a shard failed: where another runner with --retry-failed
  ran that shard again and finished the configuration in between, 'failed' replaced its 'done'.

`set_config_status(..., unless=("done",))` now reads the status in its write (one UPDATE in a
BEGIN IMMEDIATE transaction) and says whether it wrote. The other runner's whole run is put
at the point between this runner's read and its write (a wrapped function, no sleeps)."""
from __future__ import annotations

from pathlib import Path

import pytest

from speechbudget.axes import Config
from speechbudget.sweep import ResultsStore, run_sweep
from speechbudget.sweep import racing

HERE = Path(__file__).resolve().parent
RACE_SPACE = {"models": ["tiny.en", "base.en", "small.en"],
              "axes": {"window": [30, 10], "stride": [1, 4]},
              "task_options": {"n_items": 40, "batch_size": 5}}
RACE = {"type": "grid", "race": {"first_items": 10, "growth": 2}}


def test_set_config_status_unless_keeps_a_listed_status(tmp_path):
    c = Config(task="asr", model="tiny.en", window=10.0)
    with ResultsStore(tmp_path / "r.db") as st:
        st.register_config(c, 1.0, {"task": "asr"}, None)
        assert st.set_config_status(c.key, "done") is True
        assert st.set_config_status(c.key, "eliminated", "x", unless=("done",)) is False
        assert st.configs()[0]["status"] == "done" and st.configs()[0]["reason"] is None
        assert st.set_config_status(c.key, "failed", "why", unless=("eliminated",)) is True
        assert st.set_config_status(c.key, "eliminated", "y", unless=("done",)) is True
        assert (st.configs()[0]["status"], st.configs()[0]["reason"]) == ("eliminated", "y")
        assert st.set_config_status("no-such-key", "failed") is False


def _finish_elsewhere(write_spec, db: Path, c: Config) -> None:
    """Another runner's plain sweep of `c` alone (same task options and data) to the end."""
    one = write_spec("one", plan="grid", models=[c.model],
                     axes={"window": [c.window], "stride": [c.stride]},
                     task_options=RACE_SPACE["task_options"])
    s = run_sweep(one, db, progress=False, allow_runner=True)
    assert [k.key for k, _ in s.metrics] == [c.key]


@pytest.mark.parametrize("rule", ["dominated", "halving"])
def test_racing_does_not_eliminate_what_another_runner_finished_meanwhile(
        write_spec, tmp_path, monkeypatch, rule):
    """Between round 1's read of the items and its writes, another runner finishes one of the
    configurations round 1 stops. It stays 'done' with its metrics, is not reported as
    eliminated, and races on as a finished configuration; the others are stopped as before."""
    plan = RACE if rule == "dominated" else \
        {"type": "grid", "race": {**RACE["race"], "rule": "halving", "alpha": 1e-9}}
    spec = write_spec("race", plan=plan, **RACE_SPACE)
    clean = run_sweep(spec, tmp_path / "clean.db", progress=False, allow_runner=True)
    db = tmp_path / "r.db"
    decide = racing.halving_drops if rule == "halving" else racing.eliminations
    chosen: list[Config] = []

    def decided(*args, **kw):
        out = decide(*args, **kw)
        if out and not chosen:            # round 1 stops these: another runner finishes one
            alive = args[1] if rule == "halving" else args[0]
            chosen.append(next(c for c in alive if c.key == sorted(out)[0]))
            _finish_elsewhere(write_spec, db, chosen[0])
        return out
    monkeypatch.setattr(racing, "halving_drops" if rule == "halving" else "eliminations",
                        decided)
    race = run_sweep(spec, db, progress=False, allow_runner=True)
    assert chosen, "round 1 stopped nothing: the test does not test"
    (x,) = chosen
    with ResultsStore(db, readonly=True) as st:
        status = {r["key"]: r["status"] for r in st.configs()}
        assert status[x.key] == "done"
        assert x.key in {c.key for c, _ in st.metrics()}
        assert st.n_items(x.key) == 40
    assert x.label not in race.eliminated
    if rule == "dominated":   # what the race alone stops is stopped (x, alive, only adds a rival)
        assert set(clean.eliminated) - set(race.eliminated) <= {x.label}
    assert race.finished == len(race.metrics) == 12 - len(race.eliminated)


FLAKY = {"models": ["tiny.en"], "axes": {"window": [30]}, "plan": "grid",
         "runner": f"{HERE / 'flaky_task.py'}:FlakyTask",
         "task_options": {"n_items": 2, "batch_size": 2}}


def test_a_failure_does_not_replace_the_done_of_another_runners_retry(write_spec, tmp_path,
                                                                      monkeypatch):
    """Runner A's only shard fails; before A marks the configuration failed, runner B
    (--retry-failed, the model now works) runs that shard again and finishes it. A's 'failed'
    replaced B's 'done' (its metrics hidden, later runs reran it); now 'done' stays and A
    counts the configuration finished, with B's metrics."""
    spec = write_spec("flaky", **FLAKY)
    db = tmp_path / "r.db"
    monkeypatch.setenv("FLAKY_FAIL_MODELS", "tiny.en")
    fail_shard, happened = ResultsStore.fail_shard, []

    def failed_then_other_runner_retries(store, *args, **kw):
        fail_shard(store, *args, **kw)
        if not happened:
            happened.append(args[:2])
            monkeypatch.delenv("FLAKY_FAIL_MODELS")
            b = run_sweep(spec, db, progress=False, allow_runner=True, retry_failed=True)
            assert (b.finished, b.failed, b.shards_run) == (1, 0, 1)
    monkeypatch.setattr(ResultsStore, "fail_shard", failed_then_other_runner_retries)
    a = run_sweep(spec, db, progress=False, allow_runner=True)
    assert happened, "no shard failed: the test does not test"
    with ResultsStore(db, readonly=True) as st:
        ((c, m),) = st.metrics()
        assert st.configs()[0]["status"] == "done" and (m.n_items, m.n_failed) == (2, 0)
    assert (a.finished, a.failed, a.failures) == (1, 0, {})
    assert [k.key for k, _ in a.metrics] == [c.key]
    # a later run finds it finished: nothing runs again
    again = run_sweep(spec, db, progress=False, allow_runner=True, retry_failed=True)
    assert (again.shards_run, again.reused, again.failed) == (0, 1, 0)


def test_a_failure_is_still_stored_where_no_other_runner_finished(write_spec, tmp_path,
                                                                   monkeypatch):
    spec = write_spec("flaky", **FLAKY)
    monkeypatch.setenv("FLAKY_FAIL_MODELS", "tiny.en")
    a = run_sweep(spec, tmp_path / "r.db", progress=False, allow_runner=True)
    assert (a.finished, a.failed) == (0, 1)
    with ResultsStore(tmp_path / "r.db", readonly=True) as st:
        (row,) = st.configs()
        assert row["status"] == "failed" and "flaky failure" in row["reason"]
