"""`sweep run` on a race counts the eliminated configurations: with --no-progress the summary line
said '7 finished, 0 failed' of a 12-configuration race (5 eliminated, named nowhere)."""
from __future__ import annotations

from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.sweep import ResultsStore

SPACE = {"models": ["tiny.en", "base.en", "small.en"],
         "axes": {"window": [30, 10], "stride": [1, 4]},
         "task_options": {"n_items": 40, "batch_size": 5}}
RACE = {"type": "grid", "race": {"first_items": 10, "growth": 2}}


def _counts(db):
    st = ResultsStore(db, readonly=True)
    rows = st.configs()
    st.close()
    return (sum(r["status"] == "done" for r in rows), sum(r["status"] == "eliminated" for r in rows))


def test_no_progress_line_counts_the_eliminated(write_spec, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    db = tmp_path / "r.db"
    r = CliRunner().invoke(app, ["sweep", "run", str(write_spec("race", plan=RACE, **SPACE)),
                                 str(db), "--allow-runner", "--no-progress"])
    assert r.exit_code == 0, r.output
    done, out = _counts(db)
    assert out > 0 and done + out == 12
    assert f"{done} finished, {out} eliminated by racing, 0 failed" in " ".join(r.output.split())


def test_progress_table_counts_and_lists_the_eliminated(write_spec, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    db = tmp_path / "r.db"
    r = CliRunner().invoke(app, ["sweep", "run", str(write_spec("race", plan=RACE, **SPACE)),
                                 str(db), "--allow-runner"])
    assert r.exit_code == 0, r.output
    done, out = _counts(db)
    flat = " ".join(r.output.split())
    assert f"{done} finished, {out} eliminated by racing, 0 failed" in flat
    assert flat.count("eliminated") == out + 1


def test_a_sweep_without_racing_says_nothing_of_eliminations(write_spec, tmp_path):
    r = CliRunner().invoke(app, ["sweep", "run", str(write_spec("s")), str(tmp_path / "s.db"),
                                 "--allow-runner", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "finished, 0 failed" in r.output and "eliminated" not in r.output


def test_no_progress_line_prints_a_store_path_with_brackets_as_given(write_spec, tmp_path):
    """The line went through Rich markup: a store in a folder named '[bold]' was printed
    without that part of its path."""
    folder = tmp_path / "[bold]"
    folder.mkdir()
    db = folder / "s.db"
    r = CliRunner().invoke(app, ["sweep", "run", str(write_spec("s")), str(db),
                                 "--allow-runner", "--no-progress"], env={"COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    assert f"already in {db}," in r.output
