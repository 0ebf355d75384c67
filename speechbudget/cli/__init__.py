"""The `speechbudget` command. Each subcommand lives in its own module of this package."""
from __future__ import annotations

import importlib

from speechbudget.cli.app import app

# one module per subcommand (group); each registers itself on `app` when imported
SUBCOMMANDS = ("models_cmd", "transcribe", "flops_cmd", "asr_cmd", "ser_cmd", "sweep_cmd",
               "ser_predict_cmd", "runs_cmd", "recommend_cmd", "report_cmd", "demo_cmd")

for _name in SUBCOMMANDS:
    importlib.import_module(f"speechbudget.cli.{_name}")


def main() -> None:
    import os
    # our own progress bars; no per-model "Loading weights" bar (read by transformers when it is
    # imported, so --help does not import it)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    app()
