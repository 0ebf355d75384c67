"""Text from a sweep file or a store is shown as text. `runs list` stopped with 'internal
error: MarkupError: closing tag '[/x]' ...' on a store whose sweep was named '[/x] [red]boom'
(so did `sweep plan` on that file), and wrote a name's escape sequences ('\\x1b[31m') and NUL
to the terminal as they were (shown by: sweep run then runs list on such a spec). Now a spec
name (or plan.study_name) with a control or invisible character is a SpecError naming the key,
and `runs list` / `runs show` print store text with Rich markup and control characters
escaped."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.axes import Config
from speechbudget.cli import app
from speechbudget.sweep import ResultsStore, load_spec
from speechbudget.sweep.spec import SpecError

MARKUP = "[/x] [red]boom"


def _named(write_spec, name, **keys):
    """write_spec's file with the sweep's `name` key set (write_spec's own `name` is the file's)."""
    import yaml
    p = write_spec("s", **keys)
    p.write_text(yaml.safe_dump({**yaml.safe_load(p.read_text()), "name": name}))
    return p
CONTROL = "a\x00b\x1b[31mred\nnext"


@pytest.mark.parametrize("keys,field", [
    ({"sweep_name": CONTROL}, "name"),
    ({"sweep_name": "tab\there"}, "name"),
    ({"plan": {"type": "adaptive", "n_trials": 2, "optuna_storage": "sqlite:///s.db",
               "study_name": "s\x1b[2J"}}, "plan.study_name"),
])
def test_a_name_with_control_characters_is_a_spec_error(write_spec, keys, field):
    with pytest.raises(SpecError, match=rf"{field.replace('.', '[.]')}: .*control or invisible"):
        load_spec(_named(write_spec, keys.pop("sweep_name", "s"), **keys))


def test_printable_unicode_and_brackets_are_accepted(write_spec):
    assert load_spec(_named(write_spec, "日本語 🎧 " + MARKUP)).name.endswith(MARKUP)


def _store(path, name):
    c = Config(task="asr", model="tiny.en", window=20)
    with ResultsStore(path) as st:
        run = st.start_run({"name": name}, {"executor": "local"})
        st.register_config(c, 1.0, {"task": "asr"}, run)
        st.set_config_status(c.key, "failed", f"RuntimeError: {MARKUP} {CONTROL}")
        st.finish_run(run, "failed", f"SpecError: {MARKUP} {CONTROL}")
    return c


@pytest.mark.parametrize("name", [MARKUP, CONTROL])
def test_runs_list_and_show_print_store_text_inertly(tmp_path, monkeypatch, name):
    monkeypatch.setenv("COLUMNS", "400")
    db = tmp_path / "s.db"
    c = _store(db, name)
    for args in (["runs", "list", str(db)], ["runs", "show", str(db), c.key]):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 0, (args, r.output)
        assert "\x1b" not in r.output and "\x00" not in r.output, r.output
        assert MARKUP in r.output                     # the reason, as it is
    r = CliRunner().invoke(app, ["runs", "list", str(db)])
    assert (name if name == MARKUP else r"a\x00b\x1b[31mred\nnext") in r.output


def test_sweep_plan_shows_a_name_with_brackets(write_spec, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    r = CliRunner().invoke(app, ["sweep", "plan", str(_named(write_spec, MARKUP))])
    assert r.exit_code == 0, r.output
    assert MARKUP in r.output
