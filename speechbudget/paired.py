"""Paired comparison of two configurations scored on the same items. Pure functions.

The quantity compared is the difference of the *corpus* error, A minus B (positive: A is worse):
- WER: sum of word errors / sum of reference words, over the items both scored;
- UA (SER): the error is 1 - unweighted (balanced) accuracy, the mean over classes of the recall.
A corpus metric is not a mean of per-item numbers, so the CI is a paired bootstrap: each
resample draws items with replacement and scores *both* configurations on the same draw
(`scipy.stats.bootstrap(paired=True)`, percentile interval, seeded). The item-to-item
correlation of the two configurations (they mostly fail on the same hard utterances) is what
makes a paired CI much narrower than two separate ones.

`items_needed(delta)` answers "how many items would it take to tell a difference of `delta`
apart": the bootstrap standard error scales as 1/sqrt(items), so n = N (z_{1-a/2} + z_power)^2
se^2 / delta^2 (two-sided level 95 %, power 80 % by default).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from speechbudget.records import ItemResult

RATE_METRICS = ("wer", "cer")          # corpus errors / corpus reference units
BALANCED_METRICS = ("ua",)             # 1 - mean per-class recall


def error_cell(metric: str, v: float | None) -> str:
    """An error value (or a value of its metric: a CI bound) in the unit shown everywhere: WER in
    percent (under a 'WER %' header, no sign), others as they are (a fraction). None or not
    finite (every item failed): '–'."""
    if v is None or not math.isfinite(v):
        return "–"
    return f"{100 * v:.2f}" if metric == "wer" else f"{v + 0.0:.4g}"


def fmt_error_change(metric: str, x: float, signed: bool = True) -> str:
    """An error difference in the unit the tables use: WER/CER points (0.01 = 1 point), else the
    error (1 - UA) as a fraction."""
    if metric in RATE_METRICS:
        v = 100 * x
        shown = f"{v:+.3g}" if signed else f"{v:g}"
        # the number as shown decides (100 * (0.03 - 0.02) is 0.9999999999999998, shown "+1")
        unit = "point" if shown.lstrip("+-") == "1" else "points"
        return f"{shown} {metric.upper()} {unit}"
    return f"{x:+.3g}" if signed else f"{x:g}"


@dataclass(frozen=True)
class PairedItems:
    """Per-item counts of two configurations on the items both scored, in one order.

    rate metrics: `errors_a`, `errors_b` errors and `n_ref` reference units per item;
    balanced metrics: errors are 0/1 (wrong/right) and `labels` the class of each item."""

    metric: str
    item_ids: tuple[str, ...]
    errors_a: np.ndarray
    errors_b: np.ndarray
    n_ref: np.ndarray
    labels: np.ndarray | None = None
    dropped: int = 0                   # items not scored (ok) by both

    def __len__(self) -> int:
        return len(self.item_ids)

    @property
    def testable(self) -> bool:
        """The items can give a corpus difference: at least one, and for a rate metric at least
        one reference unit among them (items with empty references only have no WER)."""
        return len(self) > 0 and (self.labels is not None or float(np.sum(self.n_ref)) > 0)


def sign_flip_floor(k: int) -> float:
    """The smallest two-sided p-value any paired test can give when A and B differ on k items:
    the exact sign-flip (permutation) test's, 2 / 2**k (1 for no differing item)."""
    return min(1.0, 2.0 ** (1 - k)) if k else 1.0


class PairingError(ValueError):
    """Item results that cannot be compared: a scored item without its counts, or one item with
    different reference counts under two configurations (the data changed between them)."""


def check_counts(r: ItemResult, metric: str) -> None:
    """A scored item of a rate metric (WER, CER) carries its counts: `errors` and `n_ref`, each
    a finite number >= 0; else PairingError naming the item and the value."""
    if metric not in RATE_METRICS or not r.ok:
        return
    for name in ("errors", "n_ref"):
        v = getattr(r, name)
        if not isinstance(v, (int, float, np.integer, np.floating)) \
                or isinstance(v, bool) or not 0 <= v < math.inf:
            raise PairingError(f"item {r.item_id}: scored (ok) with {name}={v!r}: "
                             f"{metric.upper()} needs a count >= 0")


def check_same_reference(ra: ItemResult, rb: ItemResult, metric: str,
                         names: tuple[str, str] | None = None) -> None:
    """One item scored (ok) under two configurations has one reference: the same count of
    reference units (WER, CER) or the same reference label (UA); two mean the data changed
    between the runs (a relabelled manifest, another data set whose item ids repeat these), and
    no difference of the two is a paired one. PairingError naming the item, both references and
    both configurations (`names`, e.g. "tiny.en 1s, <key>"; without them "one configuration" and
    "the other")."""
    if not (ra.ok and rb.ok):
        return
    if metric in RATE_METRICS:
        if ra.n_ref == rb.n_ref:
            return
        first, second = f"{ra.n_ref} reference units", f"{rb.n_ref}"
    elif metric in BALANCED_METRICS:
        if ra.reference == rb.reference:
            return
        first, second = f"label {ra.reference!r}", f"{rb.reference!r}"
    else:
        return
    na, nb = (f" ({names[0]})", f" ({names[1]})") if names else ("", "")
    raise PairingError(f"item {ra.item_id}: {first} under one configuration{na}, {second} under "
                       f"the other{nb}: the data changed between them, so they cannot be "
                       "compared item by item")


def pair_items(a: Sequence[ItemResult], b: Sequence[ItemResult], metric: str,
               names: tuple[str, str] | None = None) -> PairedItems:
    """Match two configurations' item results by item id (only items both scored). Every shared
    item has one reference under both (`check_same_reference`; `names` of the two
    configurations name them in its error)."""
    if metric not in RATE_METRICS + BALANCED_METRICS:
        raise ValueError(f"paired comparison of metric {metric!r}: expected one of "
                         f"{', '.join(RATE_METRICS + BALANCED_METRICS)}")
    by_b = {r.item_id: r for r in b if r.ok}
    common = [(r, by_b[r.item_id]) for r in a if r.ok and r.item_id in by_b]
    common.sort(key=lambda p: p[0].item_id)
    all_ids = {r.item_id for r in a} | {r.item_id for r in b}
    ids = tuple(r.item_id for r, _ in common)
    for ra, rb in common:
        check_counts(ra, metric)
        check_counts(rb, metric)
        check_same_reference(ra, rb, metric, names)
    if metric in RATE_METRICS:
        ea = np.array([ra.errors for ra, _ in common], dtype=float)
        eb = np.array([rb.errors for _, rb in common], dtype=float)
        n = np.array([ra.n_ref for ra, _ in common], dtype=float)
        return PairedItems(metric, ids, ea, eb, n, None, len(all_ids) - len(ids))
    labels = [ra.reference for ra, _ in common]
    classes = sorted(set(labels))
    code = {c: i for i, c in enumerate(classes)}
    ea = np.array([float(ra.prediction != ra.reference) for ra, _ in common])
    eb = np.array([float(rb.prediction != rb.reference) for _, rb in common])
    return PairedItems(metric, ids, ea, eb, np.ones(len(common)),
                       np.array([code[x] for x in labels], dtype=float), len(all_ids) - len(ids))


def corpus_error(errors: np.ndarray, n_ref: np.ndarray, labels: np.ndarray | None = None,
                 axis: int = -1) -> np.ndarray:
    """Corpus error along `axis`: sum errors / sum n_ref, or (labels given) 1 - balanced
    accuracy (classes absent from a resample are left out of its mean)."""
    if labels is None:
        return np.sum(errors, axis=axis) / np.sum(n_ref, axis=axis)
    classes = np.unique(labels)
    per_class = []
    for c in classes:
        mask = labels == c
        count = np.sum(mask, axis=axis)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class.append(np.where(count > 0, np.sum(errors * mask, axis=axis) /
                                      np.maximum(count, 1), np.nan))
    return np.nanmean(np.stack(per_class), axis=0)


def corpus_error_of(results: Sequence[ItemResult], metric: str) -> float:
    """The corpus error of one configuration's scored items: nan, without a warning, when none
    is scored or (WER, CER) the scored items hold no reference unit (empty transcripts: no
    corpus rate, as `PairedItems.testable` says; racing then neither ranks nor leads with it)."""
    p = pair_items(results, results, metric)
    if not p.testable:
        return math.nan
    return float(corpus_error(p.errors_a, p.n_ref, p.labels))


@dataclass(frozen=True)
class PairedDifference:
    """error(A) - error(B) on the same items, with its paired bootstrap CI."""

    metric: str
    n_items: int
    error_a: float
    error_b: float
    diff: float                      # error_a - error_b (positive: A worse)
    ci_low: float
    ci_high: float
    se: float                        # bootstrap standard error of diff
    level: float = 0.95
    dropped: int = 0
    n_differ: int | None = None      # items on which A's and B's results differ

    @property
    def p_floor(self) -> float:
        """The smallest two-sided p-value any paired test can give on `n_differ` differing
        items: the exact sign-flip (permutation) test's, 2 / 2**n_differ (items where A and B
        agree carry no evidence either way). 0 when unknown."""
        return 0.0 if self.n_differ is None else sign_flip_floor(self.n_differ)

    @property
    def significant(self) -> bool:
        """The CI excludes 0: A and B can be told apart at this level."""
        return self.ci_low > 0 or self.ci_high < 0

    def a_worse_by_more_than(self, margin: float) -> bool:
        """A is significantly worse than B by more than `margin` (the CI lies above it)."""
        return self.ci_low > margin

    @property
    def p_value(self) -> float:
        """Two-sided p-value of "no difference", normal approximation with the bootstrap
        standard error (usable at the small levels a multiple-comparison correction needs,
        where bootstrap percentiles are too few), and never below `p_floor`: on few differing
        items the bootstrap's spread is too small (all differing by the same amount: none), and
        it called two items one error apart a difference at p = 0. An unknown spread gives 1."""
        if not self.se < math.inf:
            return 1.0
        if self.se <= 0:
            return 1.0 if self.diff == 0 else self.p_floor
        from scipy.stats import norm
        return max(float(2 * norm.sf(abs(self.diff) / self.se)), self.p_floor)

    def non_inferiority_p(self, margin: float) -> float:
        """One-sided p-value of "B is worse than A by `margin` or more" (H0: diff <= -margin),
        normal approximation with the bootstrap standard error: small when B is shown to be no
        more than `margin` worse than A."""
        if not self.se < math.inf:
            return 1.0
        if self.se <= 0:
            return self._one_sided_floor(margin) if self.diff > -margin else 1.0
        from scipy.stats import norm
        return max(float(norm.sf((self.diff + margin) / self.se)), self._one_sided_floor(margin))

    def worse_by_more_than_p(self, margin: float) -> float:
        """One-sided p-value of "A is worse than B by no more than `margin`" (H0: diff <=
        margin), normal approximation with the bootstrap standard error: small when A is shown
        worse than B by more than `margin`."""
        if not self.se < math.inf:
            return 1.0
        if self.se <= 0:
            return self._one_sided_floor(margin) if self.diff > margin else 1.0
        from scipy.stats import norm
        return max(float(norm.sf((self.diff - margin) / self.se)), self._one_sided_floor(margin))

    def _one_sided_floor(self, margin: float) -> float:
        """The smallest one-sided p a sign-flip test can give: 1 / 2**k over the k items that
        differ (margin 0), or over every item (a margin: an item where A and B agree is on one
        side of it too). 0 when unknown."""
        if self.n_differ is None:
            return 0.0
        return 0.5 ** (self.n_differ if margin == 0 else self.n_items)

    def items_needed(self, delta: float, power: float = 0.8) -> int | None:
        """Items for a true difference of `delta` to give a CI excluding 0 with probability
        `power` (normal approximation from the paired bootstrap variance); None when the two
        configurations never differ on these items (no variance to scale)."""
        if delta == 0 or self.se <= 0 or not math.isfinite(self.se):
            return None
        from scipy.stats import norm
        z = norm.ppf(1 - (1 - self.level) / 2) + norm.ppf(power)
        return int(math.ceil(self.n_items * (z * self.se / abs(delta)) ** 2))

    def ci_text(self, scale: float = 1.0) -> str:
        """The CI as the report and messages print it ("+0.01 to +0.03", times `scale`); an
        unbounded one says why: too few items differ for any test to tell A from B."""
        if not (math.isfinite(self.ci_low) and math.isfinite(self.ci_high)):
            k = self.n_differ if self.n_differ is not None else self.n_items
            return (f"unbounded ({k} item{' differs' if k == 1 else 's differ'}: too few to "
                    "tell)")
        return f"{scale * self.ci_low:+.3g} to {scale * self.ci_high:+.3g}"

    def describe(self, names: tuple[str, str] = ("A", "B")) -> str:
        """The difference and its CI in the unit the tables use (`fmt_error_change`): WER/CER
        points ("+1.2 WER points (95% CI +0.8 to +1.6 WER points, ...)"), else the error as a
        fraction ("+0.12 error (95% CI +0.08 to +0.16, ...)")."""
        pct = 100 * self.level
        rate = self.metric in RATE_METRICS
        unit = f" {self.metric.upper()} points" if rate else ""
        ci = self.ci_text(100.0 if rate else 1.0)
        return (f"{names[0]} - {names[1]}: {fmt_error_change(self.metric, self.diff)}"
                f"{'' if rate else ' error'} ({pct:.0f}% CI {ci}"
                f"{unit if ci[:1] in '+-' else ''}, paired, {self.n_items} items)")


def paired_difference(p: PairedItems, level: float = 0.95, n_resamples: int = 2000,
                      seed: int = 0) -> PairedDifference:
    """The paired bootstrap CI of error(A) - error(B) (percentile interval, seeded)."""
    if len(p) == 0:
        raise ValueError("paired comparison: the two configurations share no scored item")
    if p.labels is None and float(np.sum(p.n_ref)) <= 0:
        raise ValueError("paired comparison: the shared items have no reference words")
    labels = p.labels

    def stat(ea, eb, n, *lab, axis=-1):
        if lab:
            return corpus_error(ea, n, lab[0], axis) - corpus_error(eb, n, lab[0], axis)
        # a resample of only zero-word references (empty or silent utterances) has no corpus
        # WER: its denominator is floored at one word, as the task's own WER CI does
        # (tasks.asr.wer.bootstrap_ci); 0/0 would make the whole percentile CI nan
        den = np.maximum(np.sum(n, axis=axis), 1.0)
        return (np.sum(ea, axis=axis) - np.sum(eb, axis=axis)) / den

    data = (p.errors_a, p.errors_b, p.n_ref) + ((labels,) if labels is not None else ())
    ea0 = float(corpus_error(p.errors_a, p.n_ref, labels))
    eb0 = float(corpus_error(p.errors_b, p.n_ref, labels))
    d = p.errors_a - p.errors_b
    k = int(np.count_nonzero(d))
    if not k:  # no item differs: every resample is equal, the difference is exactly 0
        return PairedDifference(p.metric, len(p), ea0, eb0, ea0 - eb0, ea0 - eb0, ea0 - eb0,
                                0.0, level, p.dropped, 0)
    if sign_flip_floor(k) >= 1 - level:
        # too few items differ for any paired test to tell A from B at this level (the exact
        # sign-flip test's smallest p, 2 / 2**k, is not below 1 - level: 5 items at 95%). The
        # bootstrap would (a few items each one error worse: zero spread, a CI excluding 0),
        # so no CI here can exclude anything; one item is the extreme case
        return PairedDifference(p.metric, len(p), ea0, eb0, ea0 - eb0, -math.inf, math.inf,
                                math.inf, level, p.dropped, k)
    if _whole(p.errors_a, p.errors_b, p.n_ref):
        low, high, se = _counts_bootstrap(p, level, n_resamples, seed)
        return PairedDifference(p.metric, len(p), ea0, eb0, ea0 - eb0, low, high, se, level,
                                p.dropped, k)
    from scipy.stats import bootstrap
    res = bootstrap(data, stat, paired=True, vectorized=True, n_resamples=n_resamples,
                    confidence_level=level, method="percentile",
                    rng=np.random.default_rng(seed))
    return PairedDifference(p.metric, len(p), ea0, eb0, ea0 - eb0,
                            float(res.confidence_interval.low),
                            float(res.confidence_interval.high),
                            float(res.standard_error), level, p.dropped, k)


# Whole counts below this sum exactly in float64 in any order (2**53), so a resample's sums
# computed as (times each item was drawn) @ counts equal scipy's sums over the drawn items.
EXACT_SUM = 2.0 ** 52


def _whole(*arrays: np.ndarray) -> bool:
    """Every value is a whole number and every possible resample sum is exact in float64."""
    return all(bool(np.all(np.isfinite(a)) and np.all(a == np.round(a)))
               and float(np.sum(np.abs(a))) * len(a) < EXACT_SUM for a in arrays)


@lru_cache(maxsize=4)
def _draw_counts(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """How often each of n items is drawn in each resample: the draws of
    `scipy.stats.bootstrap(paired=True, rng=default_rng(seed))` (indices
    `integers(0, n, (n_resamples, n))`, one batch), as an (n_resamples, n) float array. The
    same for every pair of configurations with n shared items, so it is drawn once."""
    idx = np.random.default_rng(seed).integers(0, n, (n_resamples, n))
    rows = np.arange(n_resamples)[:, None] * n
    counts = np.bincount((idx + rows).ravel(), minlength=n_resamples * n)
    out = counts.reshape(n_resamples, n).astype(float)
    out.flags.writeable = False
    return out


def _counts_bootstrap(p: PairedItems, level: float, n_resamples: int,
                      seed: int) -> tuple[float, float, float]:
    """The percentile CI and standard error of `scipy.stats.bootstrap(paired=True)` with the
    same draws, from each resample's draw counts: every sum is of whole numbers, so each
    resample's statistic is the one scipy computes, bit for bit, at a fraction of the time
    (scipy indexes every array by every draw, per pair; the report tests thousands of pairs)."""
    from scipy.stats import quantile
    counts = _draw_counts(len(p), n_resamples, seed)
    if p.labels is None:
        den = np.maximum(counts @ p.n_ref, 1.0)       # as `stat` in paired_difference
        theta = (counts @ p.errors_a - counts @ p.errors_b) / den
    else:
        theta = _balanced_error(counts, p.errors_a, p.labels) - \
            _balanced_error(counts, p.errors_b, p.labels)
    alpha = (1 - level) / 2
    ci = quantile(theta, np.array([alpha, 1 - alpha]), axis=-1)
    return float(ci[0]), float(ci[1]), float(np.std(theta, ddof=1))


def _balanced_error(counts: np.ndarray, errors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """`corpus_error(errors[idx], 1, labels[idx])` for every resample, from the draw counts:
    per class, the errors drawn over the items drawn (nan for a class not drawn), averaged."""
    per_class = []
    for c in np.unique(labels):
        mask = (labels == c).astype(float)
        count = counts @ mask
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class.append(np.where(count > 0, (counts @ (errors * mask)) /
                                      np.maximum(count, 1), np.nan))
    return np.nanmean(np.stack(per_class), axis=0)


def permutation_pvalue(p: PairedItems, n_permutations: int = 5000, seed: int = 0) -> float:
    """Two-sided paired permutation test of "A and B are exchangeable": each permutation swaps
    A's and B's result on a random subset of the items (exact when 2^items is small)."""
    rng = np.random.default_rng(seed)
    labels = p.labels
    obs = abs(float(corpus_error(p.errors_a, p.n_ref, labels) -
                    corpus_error(p.errors_b, p.n_ref, labels)))
    n = len(p)
    if 2 ** n <= n_permutations:
        flips = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(bool)
    else:
        flips = rng.random((n_permutations, n)) < 0.5
    a = np.where(flips, p.errors_b, p.errors_a)
    b = np.where(flips, p.errors_a, p.errors_b)
    nn = np.broadcast_to(p.n_ref, a.shape)
    lb = None if labels is None else np.broadcast_to(labels, a.shape)
    null = np.abs(corpus_error(a, nn, lb, axis=-1) - corpus_error(b, nn, lb, axis=-1))
    return float(np.mean(null >= obs - 1e-12))
