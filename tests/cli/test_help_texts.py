"""What `--help` shows: every bracketed word of a help text survives Rich's markup, and the
options list the values the configuration accepts (found by the audit of the user docs)."""
from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from speechbudget.axes import POOLS
from speechbudget.cli import app

# Rich reads "[word...]" (a lowercase letter, '#', '/' or '@' after the bracket) as a style tag
# and drops it from the rendered help unless the bracket is escaped ("\[")
RICH_TAG = re.compile(r"(?<!\\)\[([a-z#/@][^\[\]]*)\]")
BOX = re.compile(r"[│╭╮╰╯─]")


def commands():
    """(path, click command) for every command and group, depth first."""
    root = typer.main.get_command(app)

    def walk(cmd, path):
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            if not sub.hidden:
                yield from walk(sub, path + [name])
    yield from walk(root, [])


def rendered_help(path: list[str]) -> str:
    res = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    return " ".join(BOX.sub(" ", res.output).split())


def texts(cmd) -> list[str]:
    out = [cmd.help or ""]
    out += [p.help or "" for p in cmd.params if not getattr(p, "hidden", False)]
    return out


@pytest.mark.parametrize("path,cmd", list(commands()), ids=lambda v: " ".join(v)
                         if isinstance(v, list) else "")
def test_bracketed_words_are_shown(path, cmd):
    wanted = {f"[{m.group(1)}]" for t in texts(cmd) for m in RICH_TAG.finditer(t)}
    shown = rendered_help(path)
    lost = sorted(w for w in wanted if " ".join(w.split()) not in shown)
    assert not lost, f"speechbudget {' '.join(path)} --help drops {lost}"


def test_export_mlflow_names_its_extra():
    assert "pip install 'speechbudget[tracking]'" in rendered_help(["runs", "export-mlflow"])


@pytest.mark.parametrize("path", [["asr", "eval"], ["asr", "adapt"], ["transcribe"], ["flops"]])
def test_pool_help_lists_every_pool(path):
    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    pool = next(p for p in cmd.params if "--pool" in p.opts)
    assert pool.help.split() == " | ".join(POOLS).split()


def test_asr_eval_data_help_names_every_source():
    shown = rendered_help(["asr", "eval"])
    for source in ("CSV/TSV", "metadata.csv", "Kaldi", "save_to_disk", "LibriSpeech", "hf:NAME"):
        assert source in shown
