"""Racing: stop evaluating a configuration once it is significantly dominated.

A plan with `race` (grid, star or iso_flops) runs every configuration on a first batch of items
(`first_items`, rounded up to whole shards), then on growing batches (x `growth` per round)
until the survivors have every item. The rounds take the task's shards in a fixed pseudo-random
order (`race_order`: by a hash of each shard's id), not in the task's own order (longest
utterances first for ASR): each look then tests a sample of the whole data set rather than its
longest items, and a configuration stopped after k of n items has spent about k/n of its
compute, not the larger share the longest items take. Within a shard the task's batching is
unchanged, and every configuration sees the same shards in the same order.

After each round a configuration X is eliminated when another surviving configuration Y costs
no more (analytic GFLOPs per item) and is significantly more accurate on the items both have scored so far: the paired bootstrap difference
error(X) - error(Y) (speechbudget.paired) is > 0 with a two-sided p-value below
alpha / (rounds x (configurations - 1)) — Bonferroni over every look and every rival, so the
chance that a configuration is ever eliminated wrongly stays below `alpha`. This is F-Race's
idea (Birattari et al. 2002; irace) with a paired bootstrap in place of the Friedman test, on
a successive-halving-like geometric schedule of items.

With a `tolerance` (race.tolerance, in the metric's units: 0.005 = 0.5 WER points) a second,
optional rule also stops X when a strictly cheaper surviving Y is shown to be no more than the
tolerance worse than X: H0 "error(Y) - error(X) >= tolerance" rejected one-sided at the same
corrected level. X can then no longer be the answer of `recommend --tolerance` with that
tolerance or a larger one (Y, or something cheaper, is non-inferior to it), so the race keeps
the answer but stops measuring the rest of the frontier; without a tolerance only significantly
dominated configurations stop. This rule never stops the round's leader (the surviving
configuration with the lowest error on the round's items): `recommend --tolerance` measures the
tie group against the most accurate configuration, and with it gone a lesser reference could
admit a configuration the full run shows worse than the most accurate by more than the tolerance.

With `rule: best` (race.rule; the default is `dominated`) the race is run for the
recommendation alone, as F-Race does: besides the rules above, X also stops once the round's
leader L (the surviving configuration with the lowest error on the round's items) is shown
better than X by more than the tolerance (0 without one): H0 "error(X) - error(L) <= tolerance"
rejected one-sided at the same corrected level, whatever the two cost. `recommend` (with that
tolerance or a smaller one, and no limits that exclude L) can then not name X nor put it in the
tie group — the group holds only configurations the most accurate one cannot be told from — so
the answer is kept, while cheap, inaccurate points of the Pareto frontier stop early and are
reported with the items they were scored on.

With `rule: halving` (race.rule; race.eta, default 2) the race is budget-driven successive
halving (Jamieson & Talwalkar 2016; Hyperband, Li et al. 2018; Optuna's SuccessiveHalvingPruner)
on top of `rule: best`: after each round but the last, the evidence rules above apply first;
then of the n configurations that ran the round, at most ceil(n / eta) are kept by rank — the
lowest corpus error on the round's items (`corpus_error_of`; ties by GFLOPs per item, then key)
— and the rest are dropped *by rank, not by evidence*. Two are never dropped by rank:
- the round's leader (lowest error; ties by key as above), the reference of the tie group;
- the round's candidate answer: the cheapest (GFLOPs per item; ties: error, label, key)
  configuration whose paired 95 % CI of error(X) - error(leader) on the round's items reaches 0
  (or lies within the tolerance, when one is set) — `recommend`'s own rule applied to what the
  round has seen.
Why the second: the recommendation is the cheapest member of the tie group, not the most
accurate configuration, and ranking by error alone keeps the most accurate few, so the answer
of a pure halving race is whichever survivor is cheapest, usually a dearer member of the group.
Keeping the current candidate costs at most one configuration more per round (so a round keeps
at most ceil(n / eta) + 1) and lets the cheap answer reach the end when it stays tied. Both are
chosen from the decision rule, not from any data set: nothing here depends on the grid.
A configuration dropped by rank is stored with status 'eliminated' and evidence that says so:
its rank k of n, its error and the leader's on the round's items, and the paired 95 % CI of the
difference — which may well contain 0: it was *not* shown to be worse. The guarantee is
therefore weaker than the other rules': they stop a configuration only on evidence that it
cannot be the answer (wrongly with a chance bounded by alpha); halving may stop the answer the
full run would give, and its answer is only as good as the raced answer's paired test
against the full run — the raced answer is the decision rule's pick among the survivors, and
it can be checked only by measuring the configurations it dropped.

The most accurate configuration of a round can never be eliminated, so the race always ends
with at least one survivor; survivors are aggregated as in a full sweep. An eliminated
configuration keeps the items it was scored on in the store, and its status 'eliminated' with
the evidence; each pair a round could not compare (`untestable_reason`) is stored with the
reason (`ResultsStore.uncompared`), as neither could stop the other. A configuration already finished in the store when the race starts (a full sweep
ran on it before) is never stopped (one whose stored results are of an older rule of its task
and are recomputed, `--recompute-stale`, is not finished: it races as a new one): that saves nothing, and its status would hide its metrics.
Nor is one another runner finishes during the race (a plain sweep on the same store, between a
round's read of the items and its decisions being stored): 'eliminated' is written only where
the status, read in that write's transaction, is not 'done'. Such a configuration is then
treated as finished before the race: it stays among the survivors, compared like any other on
each round's items (it may stop others), and is never stopped.
Each round's decision uses only the items of that round's shards, so a resumed
race (after a kill) takes the same decisions and runs only what is missing.
"""
from __future__ import annotations

import hashlib
import math
from typing import Sequence

from speechbudget.axes import Config
from speechbudget.paired import (PairedItems, PairingError, corpus_error_of, error_cell,
                                 fmt_error_change, pair_items, paired_difference)
from speechbudget.sweep.driver import Sweep
from speechbudget.sweep.store_guard import StoreError
from speechbudget.sweep.plan import Plan, race_rounds
from speechbudget.tasks.base import Shard

METRIC_OF_TASK = {"asr": "wer", "ser": "ua"}
# the words every rank-dropped configuration's evidence starts with (the report counts them)
RANK_DROPPED = "dropped by rank"
__all__ = ["METRIC_OF_TASK", "RANK_DROPPED", "eliminations", "halving_drops", "race_order",
           "race_rounds", "run_race", "untestable_reason"]


def race_order(shards: Sequence[Shard]) -> list[Shard]:
    """The order in which a race visits `shards`: by the SHA-1 of each shard's id, so it is
    the same for every configuration with the same shards, on every resume, on every machine,
    and unrelated to utterance length."""
    return sorted(shards, key=lambda sh: (hashlib.sha1(f"race|{sh.shard_id}".encode())
                                          .hexdigest(), sh.shard_id))


def untestable_reason(p: PairedItems) -> str | None:
    """Why two configurations' paired items cannot be compared (no test can be run on them), or
    None when they can: no item both scored, or (a rate metric) only items whose references
    have no words (empty transcripts), which have no corpus WER."""
    if len(p) == 0:
        return "no item scored by both"
    if not p.testable:
        return (f"the {len(p)} item{'' if len(p) == 1 else 's'} both scored "
                f"{'has' if len(p) == 1 else 'have'} no reference words (empty transcripts)")
    return None


def eliminations(alive: Sequence[Config], items: dict[str, list], cost: dict[str, float | None],
                 metric: str, level_alpha: float, seed: int = 0,
                 tolerance: float | None = None, rule: str = "dominated",
                 uncompared: dict[tuple[str, str], str] | None = None
                 ) -> dict[str, tuple[Config, str]]:
    """key -> (the dominating configuration, evidence) for each configuration of `alive` that
    some other costs no more than and beats with p < level_alpha (paired); with a `tolerance`,
    also each that a strictly cheaper one is shown non-inferior to within it; with
    rule="best", also each that the leader is shown better than by more than the tolerance
    (module doc). A pair whose items cannot be compared (`untestable_reason`) is left alone:
    neither stops the other; given `uncompared`, (x key, y key) -> the reason is added to it."""
    def c_of(c: Config) -> float:
        v = cost.get(c.key)
        return math.inf if v is None else float(v)

    leader = _leader(alive, items, metric) if rule == "best" or tolerance is not None else None
    margin = tolerance or 0.0
    out: dict[str, tuple[Config, str]] = {}
    for x in alive:
        best = None                     # (rival, difference, p, kind)
        # the leader stays: `recommend --tolerance` measures the tie group against the most
        # accurate, so stopping it (a cheaper one being within the tolerance of it) would let a
        # lesser reference admit configurations the full run shows worse by more than that
        is_leader = leader is not None and leader.key == x.key
        for y in alive:
            if y.key == x.key or cost.get(y.key) is None or c_of(y) > c_of(x):
                continue
            p = pair_items(items.get(x.key, []), items.get(y.key, []), metric, (x.label, y.label))
            why = untestable_reason(p)
            if why is not None and uncompared is not None:
                uncompared.setdefault((x.key, y.key), why)
            if why is not None or len(p) < 2:
                continue
            d = paired_difference(p, seed=seed)
            if d.diff > 0 and d.p_value < level_alpha and (best is None or
                                                           d.p_value < best[2]):
                best = (y, d, d.p_value, "dominated")
            elif tolerance is not None and c_of(y) < c_of(x) and best is None \
                    and not is_leader:
                q = d.non_inferiority_p(tolerance)
                if q < level_alpha:
                    best = (y, d, q, "non-inferior")
        if best is None and rule == "best" and leader is not None and not is_leader:
            p = pair_items(items.get(x.key, []), items.get(leader.key, []), metric,
                           (x.label, leader.label))
            why = untestable_reason(p)
            if why is not None and uncompared is not None:
                uncompared.setdefault((x.key, leader.key), why)
            if why is None and len(p) >= 2:
                d = paired_difference(p, seed=seed)
                q = d.worse_by_more_than_p(margin)
                if q < level_alpha:
                    best = (leader, d, q, "leader")
        if best is not None:
            y, d, q, kind = best
            names = (x.label, y.label)
            if kind == "leader":
                by = (f" by more than {fmt_error_change(metric, tolerance, False)}"
                      if tolerance else "")
                out[x.key] = (y, f"the leader {y.label} is significantly better{by}: "
                                 f"{d.describe(names)}, one-sided p = {q:.2g} < "
                                 f"{level_alpha:.2g} (Bonferroni)")
            elif kind == "dominated":
                out[x.key] = (y, f"significantly worse than {y.label} at no more GFLOPs per "
                                 f"item: {d.describe(names)}, p = {q:.2g} < "
                                 f"{level_alpha:.2g} (Bonferroni)")
            else:
                out[x.key] = (y, f"{y.label} costs less and is shown no more than "
                                 f"{fmt_error_change(metric, tolerance, False)} worse: "
                                 f"{d.describe(names)}, non-inferiority "
                                 f"p = {q:.2g} < {level_alpha:.2g} (Bonferroni)")
    return out


def halving_drops(ran: Sequence[Config], alive: Sequence[Config], items: dict[str, list],
                  cost: dict[str, float | None], metric: str, eta: float, seed: int = 0,
                  tolerance: float | None = None) -> dict[str, str]:
    """key -> evidence for each configuration of `alive` (the round's survivors of the evidence
    rules) that successive halving drops by rank: all but the ceil(len(ran) / eta) with the
    lowest corpus error on `items` (ties: cost, then key), the leader and the round's candidate
    answer (module doc). `ran`: the configurations that ran the round."""
    def c_of(c: Config) -> float:
        v = cost.get(c.key)
        return math.inf if v is None else float(v)

    keep_n = math.ceil(len(ran) / eta)
    err = {c.key: corpus_error_of(items.get(c.key, []), metric) for c in alive}
    ranked = sorted(alive, key=lambda c: (err[c.key] if math.isfinite(err[c.key]) else math.inf,
                                          c_of(c), c.key))
    if len(ranked) <= keep_n:
        return {}
    leader = _leader(alive, items, metric)
    if leader is None:                  # nothing scored: nothing to rank on
        return {}
    diffs, untested = {}, {}
    for c in alive:
        if c.key == leader.key:
            continue
        p = pair_items(items.get(c.key, []), items.get(leader.key, []), metric,
                       (c.label, leader.label))
        if untestable_reason(p) is None:
            diffs[c.key] = paired_difference(p, level=0.95, seed=seed)
        elif len(p):
            untested[c.key] = untestable_reason(p)
    tied = [leader] + [c for c in alive if c.key in diffs and (
        diffs[c.key].ci_low <= 0 or (tolerance is not None and diffs[c.key].ci_high <= tolerance))]
    candidate = min(tied, key=lambda c: (c_of(c), err[c.key], c.label, c.key))
    kept = {c.key for c in ranked[:keep_n]} | {leader.key, candidate.key}
    # errors as the tables show them (`error_cell`): 'WER 1.85%', 'error 0.277'
    name, pct = ("WER", "%") if metric == "wer" else ("error", "")
    out = {}
    for k, c in enumerate(ranked, start=1):
        if c.key in kept:
            continue
        d = diffs.get(c.key)
        if d is None:
            ci = f"; not compared with the leader: {untested.get(c.key, 'no item scored by both')}"
        else:
            ci = f"; {d.describe((c.label, leader.label))}" + (
                ": the 95% CI lies above 0, but no corrected test was passed" if d.ci_low > 0
                else ": not shown worse")
        e = err[c.key]
        out[c.key] = (f"{RANK_DROPPED} (successive halving, eta {eta:g}, keeps "
                      f"{keep_n} of {len(ran)}, besides the leader and the cheapest "
                      f"configuration tied with it): rank {k} of {len(ranked)} by error on the "
                      f"round's items, {name} {error_cell(metric, e)}{pct} vs the leader "
                      f"{leader.label}'s {error_cell(metric, err[leader.key])}{pct}{ci}; "
                      "not eliminated by a significance test")
    return out


def _leader(alive: Sequence[Config], items: dict[str, list], metric: str) -> Config | None:
    """The surviving configuration with the lowest corpus error on its items (ties: by key)."""
    scored = [(e, c.key, c) for c in alive
              if math.isfinite(e := corpus_error_of(items.get(c.key, []), metric))]
    return min(scored, key=lambda t: (t[0], t[1]))[2] if scored else None


def _eliminate(sweep: Sweep, c: Config, evidence: str, finished: set[str]) -> None:
    """Store `c` as eliminated with `evidence`; where another runner has finished it since the
    round's items were read (stored 'done'), leave it so and add it to `finished`: it races on
    (module doc)."""
    if sweep.store.set_config_status(c.key, "eliminated", evidence, unless=("done",)):
        sweep.summary.eliminated[c.label] = evidence
    else:
        finished.add(c.key)


def run_race(sweep: Sweep, plan: Plan) -> list[Config]:
    """Race `plan`'s configurations (module doc); returns them all (eliminated ones included)."""
    spec = plan.spec
    configs = list(plan.configs)
    metric = METRIC_OF_TASK.get(spec.task, "wer")
    shards: dict[str, list[Shard]] = {}
    for c in configs:
        try:
            shards[c.key] = race_order(sweep.task.shards(c, sweep.dataset))
        except Exception:  # noqa: BLE001 (execute records the failure)
            shards[c.key] = []
    sizes = max((s for s in shards.values()), key=len, default=[])
    rounds = race_rounds([len(sh.item_ids) for sh in sizes], spec.plan.race_first_items or 20,
                         spec.plan.race_growth)
    level = spec.plan.race_alpha / (len(rounds) * max(1, len(configs) - 1))
    s = sweep.summary
    before = (s.configs, s.shards_skipped)
    # registered first: a configuration stored by an older rule of its task and recomputed
    # (recompute_stale) loses its stored results here, so it races as a new one below
    for c in configs:
        sweep.register(c, plan.gflops)
    done_before = {c.key: sweep.store.done_shards(c.key) for c in configs}
    # finished before the race (a full sweep on this store): nothing left to save by stopping
    # them, so they are never eliminated, which would hide their stored metrics
    finished = {c.key for c, _ in sweep.store.metrics()} & {c.key for c in configs}
    reached = {c.key: 0 for c in configs}       # shards (in race order) each configuration ran
    alive = configs
    for r, k in enumerate(rounds):
        last = r == len(rounds) - 1
        for c in alive:
            reached[c.key] = k
        sweep.execute(alive, plan.gflops, only_shards=None if last else
                      {sh.shard_id for c in alive for sh in shards[c.key][:k]})
        if last:
            break
        # failed in this run, not the store's status: a configuration that failed in an
        # earlier run and whose retried shards now succeed races on
        failed = set(sweep.failed_keys)
        alive = [c for c in alive if c.key not in failed]
        ids = {c.key: {i for sh in shards[c.key][:k] for i in sh.item_ids} for c in alive}
        items = {c.key: [it for it in sweep.store.items(c.key) if it.item_id in ids[c.key]]
                 for c in alive}
        # halving applies every evidence rule of `best` first (module doc)
        rule = "best" if spec.plan.race_rule == "halving" else spec.plan.race_rule
        skipped: dict[tuple[str, str], str] = {}
        try:
            out = eliminations(alive, items, plan.gflops, metric, level,
                               tolerance=spec.plan.race_tolerance, rule=rule,
                               uncompared=skipped)
        except PairingError as e:   # one item, two references: the stored data changed
            raise StoreError(f"{sweep.store.path}: {e}") from None
        out = {k: v for k, v in out.items() if k not in finished}
        label = {c.key: c.label for c in alive}
        stored: dict[tuple[str, str], str] = {}
        for (a, b), why in skipped.items():       # each pair once, in a fixed order
            pair = tuple(sorted((label[a], label[b])))
            sweep.summary.uncompared.setdefault(
                (r + 1,) + pair, f"racing round {r + 1}: {pair[0]} and {pair[1]} not compared "
                                 f"(neither stopped by the other): {why}")
            stored.setdefault(tuple(sorted((a, b), key=lambda k: (label[k], k))), why)
        # in the store too: `runs show` can then say why a configuration was never stopped
        sweep.store.add_uncompared(sweep.run_id, r + 1, stored)
        for key, (_, why) in out.items():
            c = next(c for c in alive if c.key == key)
            n = len(items[key])
            evidence = f"eliminated in racing round {r + 1} after {n} items: {why}"
            _eliminate(sweep, c, evidence, finished)
        alive = [c for c in alive if c.key not in out or c.key in finished]
        if spec.plan.race_rule == "halving":
            ran = [c for c in configs if reached[c.key] == k and c.key not in failed]
            try:
                drops = halving_drops(ran, alive, items, plan.gflops, metric,
                                      spec.plan.race_eta, tolerance=spec.plan.race_tolerance)
            except PairingError as e:
                raise StoreError(f"{sweep.store.path}: {e}") from None
            drops = {k: v for k, v in drops.items() if k not in finished}
            for key, why in drops.items():
                c = next(c for c in alive if c.key == key)
                evidence = (f"eliminated in racing round {r + 1} after {len(items[key])} "
                            f"items: {why}")
                _eliminate(sweep, c, evidence, finished)
            alive = [c for c in alive if c.key not in drops or c.key in finished]
    # counted once over the race, not once per round
    s.configs = before[0] + len(configs)
    s.shards_skipped = before[1] + sum(
        len(done_before[c.key] & {sh.shard_id for sh in shards[c.key][:reached[c.key]]})
        for c in configs)
    s.rounds = len(rounds)
    return configs
