"""An adaptive plan's plan.optuna_storage holding a study of the same name with other objectives
(another tool's, or a single-objective study) is refused naming the field and its line, exit 2.
It was 'error: internal error: ValueError: study 's' in sqlite:///... has directions
[<StudyDirection.MAXIMIZE: 2>]: not this plan's study' (exit 70), with no file, key or line."""
from __future__ import annotations

import pytest

optuna = pytest.importorskip("optuna")
pytestmark = pytest.mark.timeout(120)


def _foreign_study(url: str, name: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.create_study(storage=url, study_name=name, direction="maximize")


def test_a_study_with_other_objectives_is_a_spec_error(tmp_path, cli, spec_file):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    _foreign_study(url, "s1")
    p = spec_file(tmp_path, plan={"type": "adaptive", "n_trials": 2, "seed": 0,
                                  "optuna_storage": url, "study_name": "s1"})
    line = next(i for i, x in enumerate(p.read_text().splitlines(), 1)
                if "optuna_storage" in x)
    r = cli("sweep", "run", p, tmp_path / "s.db", "--allow-runner", "--no-progress", code=2,
            has=(f"s.yaml, line {line}: plan.optuna_storage: {url}: its study 's1' has 1 "
                 "objective(s) (maximize), not this plan's two minimised ones (error, gflops)",))
    assert len(r.output.strip().splitlines()) == 1, r.output


def test_run_sweep_raises_the_spec_error(tmp_path, spec_file):
    from speechbudget.sweep import ResultsStore, run_sweep
    from speechbudget.sweep.spec import SpecError

    url = f"sqlite:///{tmp_path / 'study.db'}"
    _foreign_study(url, "s")  # the sweep's name: study_name left out
    p = spec_file(tmp_path, plan={"type": "adaptive", "n_trials": 2, "optuna_storage": url})
    with pytest.raises(SpecError, match=r"s\.yaml, line \d+: plan\.optuna_storage: .*not this "
                                        r"plan's study") as e:
        run_sweep(p, tmp_path / "s.db", progress=False, allow_runner=True)
    assert e.value.exit_code == 2 and e.value.key == "plan.optuna_storage"
    assert not list(ResultsStore(tmp_path / "s.db").metrics())  # nothing ran
