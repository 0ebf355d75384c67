"""Configurations a racing sweep stopped (sweep.racing): read from the store with the evidence
that eliminated them. They have no final metrics (they did not see every item), so the report
lists them apart and keeps them off the frontiers; the error shown is on the items they were
scored on, said so. Beside them, the pairs a race could not compare (`load_uncompared`): a
surviving configuration was never tested against those, so it was not stopped by them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechbudget.axes import Config
from speechbudget.paired import BALANCED_METRICS, RATE_METRICS, corpus_error
from speechbudget.records import ItemResult
from speechbudget.sweep.racing import RANK_DROPPED

METRIC_OF_TASK = {"asr": "wer", "ser": "ua"}


@dataclass(frozen=True)
class EliminatedConfig:
    config: Config
    gflops: float | None              # analytic GFLOPs per item (what racing compared)
    n_items: int                      # items it was scored on before it was stopped
    n_failed: int
    error: float | None               # corpus error on those items (WER, or 1 - UA)
    evidence: str                     # the store's reason: round, items, paired CI, p-value

    @property
    def label(self) -> str:
        return self.config.label


def partial_error(items: list[ItemResult], metric: str) -> float | None:
    """Corpus error on the items scored (speechbudget.paired.corpus_error), None if none."""
    ok = [r for r in items if r.ok and r.errors is not None]
    if not ok:
        return None
    err = np.array([float(r.errors) for r in ok])
    if metric in RATE_METRICS:
        n = np.array([float(r.n_ref or 0) for r in ok])
        return float(corpus_error(err, n)) if n.sum() > 0 else None
    if metric in BALANCED_METRICS:
        classes = sorted({str(r.reference) for r in ok})
        labels = np.array([classes.index(str(r.reference)) for r in ok], dtype=float)
        return float(corpus_error(err, np.ones(len(ok)), labels))
    return None


def load_eliminated(store_path: str | Path, task: str) -> list[EliminatedConfig]:
    """The configurations of `task` with status 'eliminated' in the store, cheapest first."""
    from speechbudget.sweep.store import ResultsStore

    store = ResultsStore(store_path, readonly=True)
    try:
        out = []
        for row in store.configs(status="eliminated", task=task):
            items = store.items(row["key"])
            out.append(EliminatedConfig(
                row["config"], row["gflops"], sum(1 for r in items if r.ok),
                sum(1 for r in items if not r.ok),
                partial_error(items, METRIC_OF_TASK.get(task, "wer")), row["reason"] or ""))
    finally:
        store.close()
    out.sort(key=lambda e: (e.gflops if e.gflops is not None else float("inf"), e.label))
    return out


@dataclass(frozen=True)
class UncomparedPair:
    """A surviving (finished) configuration and one its race could not compare it with."""
    survivor: str                     # label of the configuration that finished
    other: str                        # label (or key, if not stored) of the other one
    rounds: tuple[int, ...]           # the racing rounds in which the pair was not compared
    reason: str                       # why (sweep.racing.untestable_reason)


def load_uncompared(store_path: str | Path, task: str) -> list[UncomparedPair]:
    """Racing's uncompared pairs (ResultsStore.uncompared) as seen from each finished
    configuration of `task`: with whom and why, the rounds merged; sorted by label."""
    from speechbudget.sweep.store import ResultsStore

    store = ResultsStore(store_path, readonly=True)
    try:
        rows = store.uncompared()
        if not rows:
            return []
        cfg = {r["key"]: r for r in store.configs(task=task)}
    finally:
        store.close()
    rounds: dict[tuple[str, str, str], set[int]] = {}
    for row in rows:
        a, b = row["config_key"], row["other_key"]
        for x, y in ((a, b), (b, a)):
            if x in cfg and cfg[x]["status"] == "done":
                other = cfg[y]["label"] if y in cfg else y
                rounds.setdefault((cfg[x]["label"], other, row["reason"] or ""),
                                  set()).add(int(row["round"]))
    return [UncomparedPair(s, o, tuple(sorted(r)), why)
            for (s, o, why), r in sorted(rounds.items())]


def stopped_note(eliminated: list[EliminatedConfig]) -> str | None:
    """What the recommendation leaves out when a race stopped configurations (None: nothing
    stopped). Those dropped by rank (successive halving) were not shown worse: the answer is
    then the decision rule's pick among the survivors only, and the note says so."""
    if not eliminated:
        return None
    ranked = [e for e in eliminated if RANK_DROPPED in e.evidence]
    note = (f"{len(eliminated)} configuration(s) stopped by racing before seeing every item are "
            "not considered")
    if not ranked:
        return note + " (each stopped by a corrected significance test; see its evidence)."
    return (note + f"; {len(ranked)} of them were dropped by rank (successive halving), not "
            "shown worse: " + ", ".join(e.label for e in ranked) + ". The answer is the decision "
            "rule's pick among the survivors; a configuration dropped by rank could have been "
            "the full run's answer.")
