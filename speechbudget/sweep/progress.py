"""Progress display of a running sweep (rich, on stderr) and the final summary table (stdout).
Both are off unless asked for (`run_sweep(progress=True)`; the command line turns them on)."""
from __future__ import annotations

import math
from typing import Any


class Progress:
    """Two bars, configurations and items, with ETA; silent when disabled."""

    def __init__(self, enabled: bool = False):
        self.enabled = enabled
        self._p = None
        self._configs = self._items = None

    def start(self, n_configs: int, n_items: int) -> None:
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress,
                                   TextColumn, TimeElapsedColumn, TimeRemainingColumn)
        self.stop()
        self._p = RichProgress(TextColumn("{task.description:<16}"), BarColumn(),
                               MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"),
                               TimeRemainingColumn(), TextColumn("{task.fields[last]}"),
                               console=Console(stderr=True))
        self._p.start()
        self._configs = self._p.add_task("configurations", total=n_configs, last="")
        self._items = self._p.add_task("items", total=n_items, last="")

    def advance_items(self, n: int) -> None:
        if self._p is not None:
            self._p.advance(self._items, n)

    def advance_config(self, label: str) -> None:
        if self._p is not None:
            self._p.update(self._configs, advance=1, last=label)

    def note(self, text: str) -> None:
        """A line on stderr above the bars (as shown, never folded); nothing when disabled."""
        if not self.enabled:
            return
        if self._p is not None:
            self._p.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            import sys
            print(text, file=sys.stderr, flush=True)

    def stop(self) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None

    def summary_table(self, summary: Any, store: Any) -> None:
        if not self.enabled:
            return
        from rich.console import Console
        from rich.table import Table
        t = Table(title=f"sweep run {summary.run_id}: {outcome_counts(summary)}, "
                        f"{summary.reused} already in the store ({summary.seconds:.1f} s)")
        for col in ("configuration", "metric", "value", "GFLOPs/item", "RTF", "items", "failed"):
            t.add_column(col, justify="left" if col == "configuration" else "right")
        for c, m in summary.metrics:
            t.add_row(c.label, m.metric, value_text(m), _f(m.gflops), _f(m.rtf, 3),
                      str(m.n_items), str(m.n_failed))
        for label, reason in summary.failures.items():
            t.add_row(label, "failed", "", "", "", "", reason[:60], style="red")
        for label in summary.eliminated:
            t.add_row(label, "eliminated", "", "", "", "", "", style="dim")
        Console().print(t)


def outcome_counts(summary: Any) -> str:
    """'7 finished, 5 eliminated by racing, 0 failed' (the eliminated only in a race): every
    configuration of the sweep is counted in one of them. A configuration none of whose items
    was scored (every item failed: unreadable audio, say) has metrics, but counts as failed
    (the run's summary decides: `driver.none_scored`): '0 finished, 4 failed (4 with every item
    failed)'."""
    none = len(summary.none_scored)
    racing = f"{len(summary.eliminated)} eliminated by racing, " \
        if summary.rounds or summary.eliminated else ""
    why = f" ({none} with every item failed)" if none else ""
    return f"{summary.finished} finished, {racing}{summary.failed} failed{why}"


def value_text(m: Any) -> str:
    """The metric as every table shows it: WER in percent and labelled so, others as they are;
    'n/a' where there is none (every item failed: the value is NaN)."""
    if m.value is None or not math.isfinite(m.value):
        return "n/a"
    return f"{100 * m.value:.2f} %" if m.metric == "wer" else f"{m.value:.4f}"


def _f(x: float | None, digits: int = 2) -> str:
    return "" if x is None else f"{x:.{digits}f}"
