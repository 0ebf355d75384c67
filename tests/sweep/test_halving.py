"""Racing with rule: halving (sweep.racing, successive halving): eta validated, configurations
dropped by rank with evidence that says so (not claimed worse), the leader and the round's
cheapest tied configuration never dropped, a killed race resuming to the same decisions, and
the report / recommend saying that the answer is among the survivors only."""
from __future__ import annotations

import math

import numpy as np
import pytest

from speechbudget.axes import Config
from speechbudget.records import ItemResult
from speechbudget.sweep import ResultsStore, run_sweep
from speechbudget.sweep.racing import RANK_DROPPED, halving_drops
from speechbudget.sweep.spec import SpecError, spec_from_dict

SPACE = {"models": ["tiny.en", "base.en", "small.en"],
         "axes": {"window": [30, 10], "stride": [1, 4]},
         "task_options": {"n_items": 40, "batch_size": 5}}
# a tiny alpha, so that fewer configurations stop on evidence than halving keeps and the rank
# rule has something to drop (on this test double the evidence rules alone stop half in round 1)
HALVING = {"type": "grid", "race": {"first_items": 10, "growth": 2, "rule": "halving",
                                    "alpha": 1e-9}}


# ---- spec ------------------------------------------------------------------------------------
def test_eta_is_parsed_validated_and_kept_out_of_old_digests(bundled_librispeech):
    base = {"task": "asr", "data": str(bundled_librispeech), "models": ["tiny.en"]}

    def plan(**race):
        return spec_from_dict({**base, "plan": {"type": "grid", "race": race}})
    s = plan(rule="halving")
    assert s.plan.race_rule == "halving" and s.plan.race_eta == 2.0
    assert "race_eta" not in s.to_dict()["plan"]                # the default: digest unchanged
    assert plan(rule="halving", eta=2).digest == s.digest
    three = plan(rule="halving", eta=3)
    assert three.plan.race_eta == 3.0 and three.to_dict()["plan"]["race_eta"] == 3.0
    assert three.digest != s.digest
    assert plan(rule="halving", eta=1.5).plan.race_eta == 1.5
    for bad in (1, 0.5, -2, "2", True, float("inf"), None):
        with pytest.raises(SpecError, match=r"plan\.race\.eta"):
            plan(rule="halving", eta=bad) if bad is not None else plan(eta=2)
    with pytest.raises(SpecError, match=r"plan\.race\.eta.*only rule: halving"):
        plan(rule="best", eta=2)
    with pytest.raises(SpecError, match=r"plan\.race\.rule"):
        plan(rule="halve")


# ---- the rank rule on constructed items -------------------------------------------------------
def _items(errors, n_ref=20):
    return [ItemResult(f"u{i:03d}", True, errors=int(e), n_ref=n_ref) for i, e in enumerate(errors)]


def _configs(n):
    return [Config(task="asr", model="tiny.en", window=w) for w in range(5, 5 + n)]


def test_halving_keeps_the_best_by_error_the_leader_and_the_cheapest_tied_one():
    rng = np.random.default_rng(0)
    base = rng.integers(2, 6, 200)
    lead, b, c, cheap, e, f = _configs(6)
    noise = rng.integers(-1, 2, 200)                    # -1, 0, 1: mean 0, noisy
    items = {lead.key: _items(base), b.key: _items(base + (rng.random(200) < 0.01)),
             c.key: _items(base + (rng.random(200) < 0.02)),
             cheap.key: _items(np.maximum(base + noise, 0) + (rng.random(200) < 0.03)),
             e.key: _items(base + 2), f.key: _items(base + 3)}
    cost = {lead.key: 6.0, b.key: 5.0, c.key: 4.0, cheap.key: 1.0, e.key: 2.0, f.key: 3.0}
    alive = [lead, b, c, cheap, e, f]
    # the constructed cheap one is less accurate than lead, b and c, but tied with the leader
    from speechbudget.paired import corpus_error_of, pair_items, paired_difference
    err = {x.key: corpus_error_of(items[x.key], "wer") for x in alive}
    assert err[lead.key] < err[b.key] < err[c.key] < err[cheap.key] < err[e.key] < err[f.key]
    d = paired_difference(pair_items(items[cheap.key], items[lead.key], "wer"))
    assert d.ci_low <= 0 <= d.ci_high

    out = halving_drops(alive, alive, items, cost, "wer", 2)      # keeps 3 by rank + cheap
    assert set(out) == {e.key, f.key}
    why = out[e.key]
    assert why.startswith(RANK_DROPPED) and "rank 5 of 6" in why and "eta 2" in why
    assert lead.label in why and f"WER {100 * err[e.key]:.2f}%" in why  # in percent (README)
    assert f"{100 * err[lead.key]:.2f}%" in why
    assert "95% CI" in why and "paired" in why and "not eliminated by a significance test" in why
    assert "significantly worse" not in why
    # e is clearly worse: its CI lies above 0, but it was not dropped by a corrected test
    assert "lies above 0" in why
    # eta 3 keeps 2 by rank: c, tied with the leader, is dropped and said not to be shown worse
    out = halving_drops(alive, alive, items, cost, "wer", 3)
    assert set(out) == {c.key, e.key, f.key}
    assert "rank 3 of 6" in out[c.key] and "not shown worse" in out[c.key]
    # the survivors of the evidence rules are ranked; the budget is of those that ran the round
    out = halving_drops(alive, [lead, b, cheap], items, cost, "wer", 2)
    assert out == {}


def test_halving_never_drops_the_leader():
    """The leader (lowest error; ties by key) is kept even when equal errors and the cost
    tie-break rank it below the budget."""
    rng = np.random.default_rng(3)
    base = rng.integers(0, 4, 100)
    x, y, z = _configs(3)
    lead, other = sorted([x, y], key=lambda c: c.key)   # same items: the leader is the lower key
    items = {x.key: _items(base), y.key: _items(base), z.key: _items(base + 1)}
    cost = {lead.key: 9.0, other.key: 1.0, z.key: 0.5}
    out = halving_drops([x, y, z], [x, y, z], items, cost, "wer", 10)   # keeps 1 by rank
    assert set(out) == {z.key}
    assert f"the leader {lead.label}'s" in out[z.key]
    # the leader also the cheaper twin: it is rank 1 and the candidate, so the dearer twin,
    # identical on every item, is dropped by rank and said not to be shown worse
    cost = {lead.key: 1.0, other.key: 9.0, z.key: 0.5}
    out = halving_drops([x, y, z], [x, y, z], items, cost, "wer", 10)
    assert set(out) == {z.key, other.key}
    assert "rank 2 of 3" in out[other.key] and "not shown worse" in out[other.key]


def test_halving_drops_nothing_when_the_budget_holds_every_survivor():
    x, y = _configs(2)
    items = {x.key: _items([1, 2, 3]), y.key: _items([3, 3, 3])}
    assert halving_drops([x, y], [x, y], items, {x.key: 1.0, y.key: 2.0}, "wer", 1.01) == {}
    assert math.ceil(2 / 1.01) == 2


# ---- end to end on the test-double task --------------------------------------------------------
def test_halving_race_runs_end_to_end_within_its_budget(write_spec, tmp_path):
    from speechbudget.analysis.recommend import recommend
    from speechbudget.analysis.source import load_results
    from speechbudget.report.eliminated import load_eliminated, stopped_note

    full = run_sweep(write_spec("full", plan="grid", **SPACE), tmp_path / "f.db",
                     progress=False, allow_runner=True)
    race = run_sweep(write_spec("race", plan=HALVING, **SPACE), tmp_path / "r.db",
                     progress=False, allow_runner=True)
    assert race.rounds == 3 and race.configs == 12
    st = ResultsStore(tmp_path / "r.db")
    rows = {r["label"]: r for r in st.configs(status="eliminated")}
    assert set(rows) == set(race.eliminated)
    ranked = {k for k, r in rows.items() if r["reason"].count(RANK_DROPPED)}
    assert ranked, "nothing was dropped by rank"
    for label in ranked:
        assert "significantly" not in rows[label]["reason"]
    # the budget: of 12 that ran round 1 at most ceil(12/2) + 1 run round 2, and so on
    n_items = {r["key"]: st.n_items(r["key"]) for r in st.configs()}
    ran2 = sum(1 for n in n_items.values() if n > 10)
    ran3 = sum(1 for n in n_items.values() if n > 20)
    assert ran2 <= 7 and ran3 <= math.ceil(ran2 / 2) + 1
    assert ran3 == race.finished == len(race.metrics) and ran3 >= 1
    assert race.items_run == 10 * 12 + 10 * ran2 + 20 * ran3 <= 0.5 * full.items_run
    # the raced answer is in the full run's tie group (paired 95 %)
    f, r = load_results(tmp_path / "f.db"), load_results(tmp_path / "r.db")
    full_rec, raced_rec = recommend(f.results, items=f.items), recommend(r.results, items=r.items)
    assert raced_rec.best[0].key in {t.config.key for t in full_rec.tie_group}
    # what recommend and the report say about the stopped configurations
    note = stopped_note(load_eliminated(tmp_path / "r.db", "asr"))
    assert f"{len(ranked)} of them were dropped by rank" in note and "not shown worse" in note
    assert stopped_note(load_eliminated(tmp_path / "f.db", "asr")) is None



def test_recommend_cli_says_rank_dropped_configurations_were_not_considered(write_spec,
                                                                             tmp_path):
    from typer.testing import CliRunner

    from speechbudget.cli.app import app
    run_sweep(write_spec("race", plan=HALVING, **SPACE), tmp_path / "r.db", progress=False,
              allow_runner=True)
    res = CliRunner().invoke(app, ["recommend", str(tmp_path / "r.db"), "--json"])
    assert res.exit_code == 0, res.output
    import json
    notes = json.loads(res.output)["notes"]
    assert any("dropped by rank" in n and "not shown worse" in n for n in notes), notes
