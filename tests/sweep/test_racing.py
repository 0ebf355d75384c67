"""Racing (sweep.racing) on the test-double task: fewer item evaluations, the same answer, the
evidence stored, and a killed race resumes to the same decisions."""
from __future__ import annotations

import pytest

from speechbudget.sweep import ResultsStore, run_sweep
from speechbudget.sweep.racing import race_order, race_rounds
from speechbudget.tasks.base import Shard
from speechbudget.sweep.spec import SpecError, spec_from_dict

SPACE = {"models": ["tiny.en", "base.en", "small.en"],
         "axes": {"window": [30, 10], "stride": [1, 4]},
         "task_options": {"n_items": 40, "batch_size": 5}}
RACE = {"type": "grid", "race": {"first_items": 10, "growth": 2}}


def test_rounds_grow_geometrically_in_whole_shards_and_end_with_all():
    assert race_rounds([5] * 8, 10, 2) == [2, 4, 8]
    assert race_rounds([5] * 8, 12, 2) == [3, 5, 8]     # 12 -> 15 items, 24 -> 25, 48 -> all
    assert race_rounds([5] * 3, 100, 2) == [3]
    assert race_rounds([4, 4], 2, 1.1) == [1, 2]


def test_rounds_visit_shards_in_a_fixed_order_unrelated_to_the_tasks():
    """The race's looks sample the whole data set: not the task's leading (for ASR: longest)
    shards, but a hash order that is the same whatever order the shards come in."""
    shards = [Shard(f"asr-{n:05d}-x", (f"u{n}",), {}) for n in range(40)]
    order = race_order(shards)
    assert sorted(sh.shard_id for sh in order) == [sh.shard_id for sh in shards]
    assert race_order(list(reversed(shards))) == order == race_order(order)
    first = {int(sh.shard_id[4:9]) for sh in order[:10]}
    assert first != set(range(10))                      # not the task's first ten
    assert min(first) < 20 <= max(first)                # from both halves of the task's order


def test_a_round_runs_the_race_order_shards(write_spec, tmp_path):
    """A configuration stopped after round r was scored on the first shards in race order
    (race_rounds' count for that round), not on the task's first shards."""
    run_sweep(write_spec("race", plan=RACE, **SPACE), tmp_path / "r.db", progress=False,
              allow_runner=True)
    st = ResultsStore(tmp_path / "r.db")
    survivor = st.configs(status="done")[0]["key"]
    every = race_order([Shard(i, (), {}) for i in st.done_shards(survivor)])
    assert len(every) == 8
    stopped = st.configs(status="eliminated")
    assert stopped
    for r in stopped:
        done = set(st.done_shards(r["key"]))
        assert done in [{sh.shard_id for sh in every[:k]} for k in race_rounds([5] * 8, 10, 2)]
    assert any(set(st.done_shards(r["key"])) != {sh.shard_id for sh in sorted(every, key=lambda
               sh: sh.shard_id)[:len(st.done_shards(r["key"]))]} for r in stopped)


def test_race_option_is_validated(bundled_librispeech):
    base = {"task": "asr", "data": str(bundled_librispeech), "models": ["tiny.en"]}
    with pytest.raises(SpecError, match="plan.race.growth"):
        spec_from_dict({**base, "plan": {"type": "grid", "race": {"growth": 1}}})
    with pytest.raises(SpecError, match="plan.race"):
        spec_from_dict({**base, "plan": {"type": "adaptive", "race": True}})
    s = spec_from_dict({**base, "plan": {"type": "star", "race": True}})
    assert s.plan.race_first_items == 20 and s.plan.race_alpha == 0.05


def best(metrics):
    return min(metrics, key=lambda cm: (cm[1].error, cm[1].gflops))[0].key


def test_race_finds_the_full_grids_best_with_fewer_item_evaluations(write_spec, tmp_path):
    full = run_sweep(write_spec("full", plan="grid", **SPACE), tmp_path / "f.db", progress=False, allow_runner=True)
    assert len(full.metrics) == 12 and full.items_run == 12 * 40
    race = run_sweep(write_spec("race", plan=RACE, **SPACE), tmp_path / "r.db", progress=False, allow_runner=True)
    assert race.eliminated, "nothing was eliminated"
    assert race.items_run < 0.8 * full.items_run
    assert best(race.metrics) == best(full.metrics)
    assert race.configs == 12 and race.finished == len(race.metrics) == 12 - len(race.eliminated)
    # every eliminated configuration is really dominated in the full run
    by_label = {c.label: m for c, m in full.metrics}
    for label in race.eliminated:
        m = by_label[label]
        assert any(o.gflops <= m.gflops and o.error < m.error for o in by_label.values())
    st = ResultsStore(tmp_path / "r.db")
    rows = {r["label"]: r for r in st.configs(status="eliminated")}
    assert set(rows) == set(race.eliminated)
    for label, r in rows.items():
        assert "significantly worse than" in r["reason"] and "p = " in r["reason"]
        assert 0 < st.n_items(r["key"]) < 40       # the items it was scored on are kept


# successive halving (tests/sweep/test_halving.py); a tiny alpha, so that the rank rule drops some
HALVING = {"type": "grid", "race": {"first_items": 10, "growth": 2, "rule": "halving",
                                    "alpha": 1e-9}}


@pytest.mark.parametrize("plan", [RACE, HALVING], ids=["evidence", "halving"])
def test_a_killed_race_resumes_to_the_same_decisions(write_spec, tmp_path, monkeypatch, plan):
    p = write_spec("race", plan=plan, **SPACE)
    clean = run_sweep(p, tmp_path / "clean.db", progress=False, allow_runner=True)
    monkeypatch.setenv("FAKE_TASK_INTERRUPT_AFTER", "30")   # dies in the second round
    with pytest.raises(KeyboardInterrupt):
        run_sweep(p, tmp_path / "k.db", progress=False, allow_runner=True)
    monkeypatch.delenv("FAKE_TASK_INTERRUPT_AFTER")
    resumed = run_sweep(p, tmp_path / "k.db", progress=False, allow_runner=True)
    assert resumed.eliminated == clean.eliminated            # same configurations, same evidence
    assert ResultsStore(tmp_path / "k.db").n_items() == ResultsStore(tmp_path / "clean.db").n_items()
    a, b = ResultsStore(tmp_path / "k.db"), ResultsStore(tmp_path / "clean.db")
    assert {r["key"]: (r["status"], a.n_items(r["key"])) for r in a.configs()} == \
        {r["key"]: (r["status"], b.n_items(r["key"])) for r in b.configs()}
    again = run_sweep(p, tmp_path / "k.db", progress=False, allow_runner=True)   # finished: nothing more runs
    assert again.shards_run == 0 and set(again.eliminated) == set(clean.eliminated)


def _items(errors, n_ref=20):
    from speechbudget.records import ItemResult
    return [ItemResult(f"u{i}", True, errors=int(e), n_ref=n_ref) for i, e in enumerate(errors)]


def test_tolerance_stops_what_a_cheaper_configuration_is_non_inferior_to():
    """Without a tolerance a configuration a shade more accurate than a cheaper one is never
    stopped (not dominated); with a tolerance it is, once the cheaper one is shown within it;
    one clearly more accurate than the tolerance is kept either way."""
    import numpy as np

    from speechbudget.axes import Config
    from speechbudget.sweep.racing import eliminations
    rng = np.random.default_rng(0)
    base = rng.integers(0, 3, 200)                      # per-item errors of 20 words
    cheap, dear, best = (Config(task="asr", model="tiny.en", window=w) for w in (10, 20, 30))
    items = {cheap.key: _items(base + (rng.random(200) < 0.1)),   # ~0.5 points worse than dear
             dear.key: _items(base),
             best.key: _items(np.maximum(base - 2, 0))}         # far more accurate, dearest
    cost = {cheap.key: 1.0, dear.key: 2.0, best.key: 3.0}
    assert eliminations([cheap, dear, best], items, cost, "wer", 0.001) == {}
    out = eliminations([cheap, dear, best], items, cost, "wer", 0.001, tolerance=0.02)
    assert set(out) == {dear.key}
    assert out[dear.key][0] == cheap and "no more than 2 WER points worse" in out[dear.key][1]
    # a tolerance smaller than the true gap proves nothing
    assert eliminations([cheap, dear, best], items, cost, "wer", 0.001, tolerance=0.001) == {}


def test_race_tolerance_is_validated_and_kept_out_of_old_digests(bundled_librispeech):
    base = {"task": "asr", "data": str(bundled_librispeech), "models": ["tiny.en"]}
    with pytest.raises(SpecError, match="plan.race.tolerance"):
        spec_from_dict({**base, "plan": {"type": "grid", "race": {"tolerance": 5}}})
    plain = spec_from_dict({**base, "plan": {"type": "grid", "race": True}})
    assert "race_tolerance" not in plain.to_dict()["plan"]
    tol = spec_from_dict({**base, "plan": {"type": "grid", "race": {"tolerance": 0.005}}})
    assert tol.plan.race_tolerance == 0.005 and tol.to_dict()["plan"]["race_tolerance"] == 0.005


def test_rule_best_stops_what_the_leader_beats_whatever_it_costs():
    """rule="best" (F-Race): cheap configurations clearly less accurate than the leader stop,
    though nothing cheaper dominates them; one the leader cannot be told from is kept; a margin
    larger than the gap keeps the worse one too."""
    import numpy as np

    from speechbudget.axes import Config
    from speechbudget.sweep.racing import eliminations
    rng = np.random.default_rng(1)
    base = rng.integers(1, 4, 200)
    poor, tied, lead = (Config(task="asr", model="tiny.en", window=w) for w in (10, 20, 30))
    items = {poor.key: _items(base + 1),                        # 5 points worse, cheapest
             tied.key: _items(base + (rng.random(200) < 0.02) - (rng.random(200) < 0.02)),
             lead.key: _items(base)}
    cost = {poor.key: 1.0, tied.key: 2.0, lead.key: 3.0}
    alive = [poor, tied, lead]
    assert eliminations(alive, items, cost, "wer", 0.001) == {}      # nothing is dominated
    out = eliminations(alive, items, cost, "wer", 0.001, rule="best")
    assert set(out) == {poor.key}
    assert out[poor.key][0] in (lead, tied) and "the leader" in out[poor.key][1]
    # within a 6-point margin the poor one is not shown behind the leader (the tolerance rule
    # then stops the dearer ones, which it is non-inferior to)
    out = eliminations(alive, items, cost, "wer", 0.001, tolerance=0.06, rule="best")
    assert poor.key not in out and all("the leader" not in why for _, why in out.values())


def test_race_rule_is_validated_and_kept_out_of_old_digests(bundled_librispeech):
    base = {"task": "asr", "data": str(bundled_librispeech), "models": ["tiny.en"]}
    with pytest.raises(SpecError, match="plan.race.rule"):
        spec_from_dict({**base, "plan": {"type": "grid", "race": {"rule": "fastest"}}})
    plain = spec_from_dict({**base, "plan": {"type": "grid", "race": True}})
    assert "race_rule" not in plain.to_dict()["plan"]
    best = spec_from_dict({**base, "plan": {"type": "grid", "race": {"rule": "best"}}})
    assert best.plan.race_rule == "best" and best.to_dict()["plan"]["race_rule"] == "best"
    assert best.digest != plain.digest


def test_the_tolerance_rule_never_stops_the_leader():
    """A cheaper configuration within the tolerance of the most accurate one stops a dearer,
    less accurate one, but not the most accurate itself: `recommend --tolerance` measures the
    tie group against it, so without it a lesser reference could admit more."""
    import numpy as np

    from speechbudget.axes import Config
    from speechbudget.sweep.racing import eliminations
    rng = np.random.default_rng(2)
    base = rng.integers(0, 3, 300)
    cheap, mid, lead = (Config(task="asr", model="tiny.en", window=w) for w in (10, 20, 30))
    items = {cheap.key: _items(base + (rng.random(300) < 0.05)),   # ~0.25 points worse
             mid.key: _items(base + (rng.random(300) < 0.10)),     # ~0.5 points worse
             lead.key: _items(base)}                               # most accurate, dearest
    cost = {cheap.key: 1.0, mid.key: 2.0, lead.key: 3.0}
    for rule in ("dominated", "best"):
        out = eliminations([cheap, mid, lead], items, cost, "wer", 0.001, tolerance=0.03,
                           rule=rule)
        assert set(out) == {mid.key}, rule
        assert out[mid.key][0] == cheap and "no more than 3 WER points worse" in out[mid.key][1]
    # the cheaper one is within the tolerance of the leader too: only the leader exemption keeps it
    from speechbudget.paired import pair_items, paired_difference
    d = paired_difference(pair_items(items[lead.key], items[cheap.key], "wer"))
    assert d.non_inferiority_p(0.03) < 0.001


def test_a_survivor_scores_every_item_as_in_the_full_run(tmp_path, shortest_manifest,
                                                         monkeypatch):
    """Real tiny.en: after the stride-4 configuration stops in round 1, stride 1 runs alone
    (no longer reusing the stride-4 run's cached layer-2 states); its per-item results are
    those of the full run, where it did reuse them."""
    from speechbudget.sweep import racing
    spec = {"task": "asr", "models": ["tiny.en"], "data": str(shortest_manifest(tmp_path)),
            "task_options": {"batch_size": 1, "warmup": False, "n_boot": 50},
            "axes": {"window": [30], "stride": [1, 4], "stride_at": [2]}}
    full = run_sweep({**spec, "plan": "grid"}, tmp_path / "f.db", progress=False, device="cpu")

    def stop_stride_4(alive, items, *a, **kw):
        return {c.key: (c, "stopped by the test") for c in alive if c.stride == 4}
    monkeypatch.setattr(racing, "eliminations", stop_stride_4)
    raced = run_sweep({**spec, "plan": {"type": "grid", "race": {"first_items": 2}}},
                      tmp_path / "r.db", progress=False, device="cpu")
    assert len(raced.eliminated) == 1 and raced.finished == 1
    survivor = next(c for c, _ in raced.metrics)
    assert survivor.stride == 1

    def per_item(path):
        return sorted((r.item_id, r.ok, r.prediction, r.errors, r.n_ref, r.decoded_tokens,
                       r.gflops) for r in ResultsStore(path).items(survivor.key))
    got = per_item(tmp_path / "r.db")
    assert len(got) == 4 and got == per_item(tmp_path / "f.db")
    full_m = next(m for c, m in full.metrics if c.key == survivor.key)
    raced_m = next(m for _, m in raced.metrics)
    assert (raced_m.value, raced_m.gflops) == (full_m.value, full_m.gflops)


def test_process_workers_stay_up_across_racing_rounds(write_spec, tmp_path):
    """Every round of a race runs in the same worker process (models stay loaded), not in a
    fresh one per round."""
    p = write_spec("race", plan=RACE, **SPACE)
    s = run_sweep(p, tmp_path / "p.db", executor="process", workers=1, progress=False,
                  allow_runner=True)
    assert s.rounds >= 2
    st = ResultsStore(tmp_path / "p.db")
    pids = {r.extra["pid"] for row in st.configs() for r in st.items(row["key"])}
    assert len(pids) == 1
