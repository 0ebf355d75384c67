"""`speechbudget demo`: the main job on the offline defaults (sweeps, report, recommendation)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from speechbudget.cli.app import app
from speechbudget.cli.options import int_option, limit_parser
from speechbudget.cli.output import console as out_console, inert, line

console = out_console()   # user text shown as it is, lines never folded (cli/output.py)


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("speechbudget-demo"), "-o", "--out",
                             help="output folder (store + report)"),
    asr_data: Optional[Path] = typer.Option(None, "--data", help="ASR data (default: the bundled "
                                            "LibriSpeech sample)"),
    asr_data_old: Optional[Path] = typer.Option(None, "--asr-data", hidden=True,
                                                help="old spelling of --data"),
    emotion_data: Optional[Path] = typer.Option(None, "--emotion-data", help="emotion manifest or "
                                                "folder (default: ../shared/data/emotion_sample "
                                                "when present)"),
    no_ser: bool = typer.Option(False, "--no-ser", help="skip the SER duration sweep"),
    asr_items: Optional[int] = int_option(None, "--limit", min=1,
                                          help="evaluate only the first N items (utterances)"),
    asr_items_old: Optional[int] = int_option(None, "--asr-items", min=1, hidden=True,
                                              help="old spelling of --limit"),
    max_gflops: Optional[float] = typer.Option(None, "--max-gflops",
                                               parser=limit_parser("--max-gflops"),
                                               help="FLOPs limit for the recommendation (GFLOPs "
                                                    "per utterance)"),
    max_rtf: Optional[float] = typer.Option(None, "--max-rtf", parser=limit_parser("--max-rtf"),
                                            help="real-time-factor limit for the "
                                                 "recommendation (measured on this machine)"),
    device: Optional[str] = typer.Option(None, "--device", help="cuda or cpu (default: cuda when "
                                         "available)"),
) -> None:
    """Run the star sweeps on real recordings with the bundled Whisper models, write the report and
    print the recommendation. Runs offline; running it again resumes from the store (Ctrl-C or
    `kill` keep what finished: exit 130)."""
    from speechbudget.cli.interrupt import interrupted_keeps
    from speechbudget.cli.recommend_cmd import limits_from, print_recommendation
    from speechbudget.demo import run_demo

    asr_data = asr_data or asr_data_old
    asr_items = asr_items or asr_items_old
    limits = limits_from(max_gflops, max_rtf, None)
    store = out / "runs.db"
    line(_resume_line(store), err=True)
    with interrupted_keeps(store):   # SIGTERM as Ctrl-C: the run 'interrupted', one line
        result = run_demo(out, asr_data=asr_data, emotion_data=emotion_data, device=device,
                          limits=limits, asr_items=asr_items, with_ser=not no_ser,
                          progress=True)
    console.rule("recommendation (ASR)")
    print_recommendation(result.recommendation)
    for label, reason in result.failures.items():
        console.print(f"[yellow]failed:[/yellow] {inert(label)}: {inert(reason)}")
    console.print()
    console.print(f"report: [bold]{inert(result.report)}[/bold]")
    line(f"store:  {result.store} (speechbudget recommend {result.store} --max-gflops G "
         "--max-rtf R)")


def _resume_line(store: Path) -> str:
    """Whether the demo starts a store or resumes one, said before anything runs."""
    if not store.exists():
        return f"starting the demo: results go to {store}"
    from speechbudget.sweep.store import ResultsStore
    with ResultsStore(store, readonly=True) as st:  # a damaged store: StoreError, exit 4
        done = len(st.configs(status="done"))
    return (f"resuming the demo from {store} ({done} configuration(s) finished there): only "
            "what is missing is computed")
