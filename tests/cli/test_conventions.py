"""Walk every subcommand's parameters and check the CLI conventions (see cli/app.py):
one meaning for --json, -o/--out, the store, --model, --device, --limit; --help without torch."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from speechbudget.cli import app
from tests.cli.conftest import cli_commands

REPO = Path(__file__).resolve().parents[2]


COMMANDS = dict(cli_commands())


def _is_argument(p) -> bool:
    return getattr(p, "param_type_name", "") == "argument"


def _visible_options(cmd):
    return [p for p in cmd.params if not _is_argument(p) and not p.hidden and p.name != "help"]


def test_every_subcommand_is_walked():
    assert {"asr eval", "ser train", "ser eval", "sweep plan", "sweep run", "runs list",
            "runs export", "recommend", "report", "models", "flops", "transcribe",
            "demo"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_conventions(name):
    cmd = COMMANDS[name]
    for p in _visible_options(cmd):
        opts = set(p.opts) | set(p.secondary_opts)
        where = f"{name} {'/'.join(sorted(opts))}"
        if "--json" in opts:   # machine-readable to stdout, never a file path
            assert p.is_flag and p.default in (False, None), where
        if "-o" in opts or "--out" in opts:   # -o/--out: a file or folder, both spellings
            assert {"-o", "--out"} <= opts, where
        assert not opts & {"--store", "--backbone", "--asr-data", "--asr-items", "--beam-size",
                           "--json-out", "--output"}, f"{where}: not the conventional spelling"
        if "--device" in opts:  # cuda when present: resolved at run time, not at import
            assert p.default is None and "cuda" in (p.help or ""), where
        if "--limit" in opts:
            assert "item" in (p.help or ""), f"{where}: --limit counts items"
        if p.name == "model":
            assert "--model" in opts, where
    for p in cmd.params:   # the store is positional wherever a command takes one
        if p.name == "store":
            assert _is_argument(p), f"{name}: the store must be positional"


def test_model_and_data_options_where_expected():
    for name in ("asr eval", "ser train", "transcribe", "flops"):
        assert any("--model" in p.opts for p in _visible_options(COMMANDS[name])), name
    for name in ("asr eval", "ser train", "ser eval", "demo"):
        assert any("--data" in p.opts for p in _visible_options(COMMANDS[name])), name
    for name in ("asr eval", "ser eval", "sweep plan", "runs list", "recommend", "models", "flops"):
        assert any("--json" in p.opts for p in _visible_options(COMMANDS[name])), name


def test_long_steps_have_a_progress_switch():
    """Every command that can run for minutes draws a progress bar on stderr that
    --no-progress turns off, spelt the same way everywhere (--progress/--no-progress, on)."""
    for name in ("report", "flops", "ser train", "ser eval", "transcribe", "sweep run",
                 "asr eval", "asr adapt"):
        assert any("--no-progress" in p.secondary_opts for p in COMMANDS[name].params), name
    for name, cmd in COMMANDS.items():
        for p in cmd.params:
            if "--no-progress" in set(p.opts) | set(p.secondary_opts):
                assert p.opts == ["--progress"] and p.default is True, name


def test_help_imports_no_torch():
    """--help stays fast: importing the CLI loads neither torch nor transformers."""
    code = ("import sys, speechbudget.cli; "
            "bad = [m for m in ('torch', 'transformers', 'datasets', 'pandas') if m in sys.modules]; "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-2000:]


def test_old_spellings_still_work(tmp_path):
    """Hidden aliases: sweep run --store, ser train --backbone, demo --asr-items reach the code."""
    from typer.testing import CliRunner
    r = CliRunner().invoke(app, ["sweep", "run", str(tmp_path / "missing.yaml"), "--store",
                                 str(tmp_path / "s.db")])
    assert r.exit_code == 2 and "missing.yaml" in r.output and "give the results store" \
        not in r.output
    r = CliRunner().invoke(app, ["sweep", "run", str(tmp_path / "missing.yaml")])
    assert r.exit_code == 2 and "give the results store" in r.output
