"""The adaptive plan's Optuna study in RDB storage (sqlite file): trials with values and the
configuration as user attributes, loadable by optuna (and so optuna-dashboard); a resumed search
adds only what the stored study lacks; bad storage settings are refused naming the field."""
from __future__ import annotations

import json

import pytest

from speechbudget.sweep import ResultsStore, run_sweep
from speechbudget.sweep.spec import SpecError, load_spec

optuna = pytest.importorskip("optuna")

SPACE = {"models": ["tiny.en", "base.en", "small.en"],
         "axes": {"window": [30, 20, 10, 5], "stride": [1, 2, 4]},
         "task_options": {"n_items": 6, "batch_size": 3}}


def _completed(url: str, name: str):
    study = optuna.load_study(storage=url, study_name=name)
    return [t for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]


def test_study_in_sqlite_has_every_evaluation(write_spec, tmp_path):
    p = write_spec("a", plan={"type": "adaptive", "n_trials": 6, "seed": 0,
                              "optuna_storage": "sqlite:///study.db", "study_name": "s1"}, **SPACE)
    spec = load_spec(p)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    assert spec.plan.optuna_storage == url  # relative to the spec's folder
    a = run_sweep(p, tmp_path / "a.db", progress=False, allow_runner=True)
    assert a.evaluations == 6
    stored = {c.key: m for c, m in ResultsStore(tmp_path / "a.db").metrics()}
    trials = _completed(url, "s1")
    keys = {t.user_attrs["config_key"] for t in trials}
    assert keys == set(stored)
    for t in trials:
        m = stored[t.user_attrs["config_key"]]
        assert t.values[0] == pytest.approx(m.error) and t.values[1] == pytest.approx(m.gflops)
        assert json.loads(t.user_attrs["config"])["model"] in SPACE["models"]
        assert t.user_attrs["label"]


def test_resume_does_not_retell_finished_trials(write_spec, tmp_path, monkeypatch):
    plan = {"type": "adaptive", "n_trials": 8, "seed": 1,
            "optuna_storage": f"sqlite:///{tmp_path / 'st.db'}"}
    p = write_spec("resumed", plan=plan, **SPACE)
    monkeypatch.setenv("FAKE_TASK_INTERRUPT_AFTER", "7")  # dies in the 4th configuration
    with pytest.raises(KeyboardInterrupt):
        run_sweep(p, tmp_path / "a.db", progress=False, allow_runner=True)
    monkeypatch.delenv("FAKE_TASK_INTERRUPT_AFTER")
    url = plan["optuna_storage"]
    first = {t.user_attrs["config_key"] for t in _completed(url, "resumed")}  # the spec's name
    assert first
    # (the stored study is a record of evaluations, asked nothing: no trial left running by
    # the kill; adaptive.searcher asks fresh studies)
    study = optuna.load_study(storage=url, study_name="resumed")
    assert not any(t.state == optuna.trial.TrialState.RUNNING for t in study.get_trials())
    run_sweep(p, tmp_path / "a.db", progress=False, allow_runner=True)
    run_sweep(p, tmp_path / "a.db", progress=False, allow_runner=True)  # complete: adds nothing
    trials = _completed(url, "resumed")
    stored = {c.key for c, _ in ResultsStore(tmp_path / "a.db").metrics()}
    assert {t.user_attrs["config_key"] for t in trials} == stored and len(stored) == 8
    replayed = [t for t in trials if t.user_attrs["config_key"] in first]
    # each finished configuration is in the study once from the store; a sampler's repeat ask of
    # a known point is told its known values, not added again on resume
    from collections import Counter
    from_store = Counter(t.user_attrs["config_key"] for t in trials
                         if t.distributions and t.datetime_start == t.datetime_complete)
    assert from_store and all(n == 1 for n in from_store.values()), from_store
    assert replayed
    states = {t.state for t in optuna.load_study(storage=url, study_name="resumed").get_trials()}
    assert optuna.trial.TrialState.RUNNING not in states  # the interrupted trial was closed


@pytest.mark.parametrize("plan,field", [
    ({"optuna_storage": "study.db"}, "plan.optuna_storage"),
    ({"optuna_storage": 3}, "plan.optuna_storage"),
    ({"optuna_storage": "sqlite:///no/such/folder/s.db"}, "plan.optuna_storage"),
    ({"study_name": "x"}, "plan.study_name"),
    ({"optuna_storage": "sqlite:///s.db", "study_name": ""}, "plan.study_name"),
])
def test_bad_storage_is_refused_naming_the_field(write_spec, plan, field):
    p = write_spec("bad", plan={"type": "adaptive", "n_trials": 4, **plan}, **SPACE)
    with pytest.raises(SpecError, match=field.replace(".", r"\.")):
        load_spec(p)


def test_storage_is_only_an_adaptive_option(write_spec):
    p = write_spec("bad", plan={"type": "grid", "optuna_storage": "sqlite:///s.db"}, **SPACE)
    with pytest.raises(SpecError, match=r"plan\.optuna_storage"):
        load_spec(p)
