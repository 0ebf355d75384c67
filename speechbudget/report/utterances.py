"""The per-utterance view, as data: the recommended configuration against the runner-up, item by
item (reference, both hypotheses or predicted labels, the errors of each and, for ASR, the word
alignment of each hypothesis to the reference).

Word errors are the ones the task stored per item (`ItemResult.errors`, from
`tasks.asr.wer.word_errors`); the diff is `tasks.asr.wer.align_words`, the same normalisation and
alignment, so its marked words add up to those errors.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from speechbudget.axes import Config
from speechbudget.records import ItemResult
from speechbudget.tasks.asr.wer import WordOp, align_words

MAX_ROWS = 2000          # beyond this the page gets heavy: the rows where the two differ first


@dataclass(frozen=True)
class Side:
    """One configuration's result on one item (None fields: not scored there)."""

    text: str | None = None          # hypothesis (ASR) or predicted label (SER)
    errors: int | None = None
    failed: str | None = None        # why the item failed under this configuration
    diff: tuple[WordOp, ...] = ()    # ASR: alignment to the reference

    @property
    def scored(self) -> bool:
        return self.failed is None and self.errors is not None


@dataclass(frozen=True)
class UtteranceRow:
    item_id: str
    reference: str | None
    n_ref: int | None
    a: Side
    b: Side

    @property
    def differ(self) -> bool:
        """The two configurations' outputs differ (ASR: after normalisation) or only one of
        them scored the item."""
        if self.a.scored != self.b.scored:
            return True
        if self.a.diff or self.b.diff:
            return ([o.hyp for o in self.a.diff if o.hyp is not None]
                    != [o.hyp for o in self.b.diff if o.hyp is not None])
        return self.a.text != self.b.text or self.a.errors != self.b.errors


@dataclass
class UtteranceView:
    """Every item of two configurations, the rows where they differ first."""

    task: str
    a: Config                        # the recommended configuration
    b: Config                        # the runner-up
    rows: list[UtteranceRow]
    n_items: int                     # items in the union of both (rows may be capped)
    notes: list[str] = field(default_factory=list)

    @property
    def n_differ(self) -> int:
        return sum(r.differ for r in self.rows)


def _side(r: ItemResult | None, task: str) -> Side:
    if r is None:
        return Side(failed="not scored under this configuration")
    if not r.ok:
        return Side(text=r.prediction, failed=r.error or "failed")
    diff: tuple[WordOp, ...] = ()
    if task == "asr" and r.reference is not None:
        # normalised as it was scored: a non-English result says its language (AsrTask)
        diff = tuple(align_words(r.reference, r.prediction or "",
                                 language=r.extra.get("language", "en")))
    return Side(r.prediction, r.errors, None, diff)


def compare_items(task: str, a: Config, a_items: Sequence[ItemResult], b: Config,
                  b_items: Sequence[ItemResult], max_rows: int = MAX_ROWS) -> UtteranceView:
    """Rows for every item either configuration has: those where they differ first (largest
    difference in errors first), then by item id."""
    by_a = {r.item_id: r for r in a_items}
    by_b = {r.item_id: r for r in b_items}
    rows = []
    for item_id in sorted(set(by_a) | set(by_b)):
        ra, rb = by_a.get(item_id), by_b.get(item_id)
        ref = next((r.reference for r in (ra, rb) if r is not None and r.reference is not None),
                   None)
        n_ref = next((r.n_ref for r in (ra, rb) if r is not None and r.n_ref is not None), None)
        rows.append(UtteranceRow(item_id, ref, n_ref, _side(ra, task), _side(rb, task)))

    def order(row: UtteranceRow) -> tuple:
        gap = abs((row.a.errors or 0) - (row.b.errors or 0))
        return (not row.differ, -gap, row.item_id)

    rows.sort(key=order)
    view = UtteranceView(task, a, b, rows[:max_rows], len(rows))
    if len(rows) > max_rows:
        view.notes.append(f"{len(rows) - max_rows} of {len(rows)} items not shown (the page "
                          f"shows {max_rows}, those where the two differ first)")
    return view


def utterance_view(task: str, best: tuple[Config, object] | None,
                   runners_up: Sequence[tuple[Config, object]],
                   items: dict[str, list[ItemResult]]) -> tuple[UtteranceView | None, str | None]:
    """The view for a recommendation's pick and its first runner-up, or (None, why not)."""
    if best is None:
        return None, "no configuration meets the limits: no recommendation to compare"
    if not runners_up:
        return None, "no other configuration (within the limits, if any): no runner-up to compare with"
    a, b = best[0], runners_up[0][0]
    if not items.get(a.key) or not items.get(b.key):
        return None, "no per-item results in these results (a list of metrics, not a store)"
    return compare_items(task, a, items[a.key], b, items[b.key]), None
