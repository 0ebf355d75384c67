"""How early could any race have stopped each configuration? Read from a full run's store.

    python benchmarks/racing_evidence.py --store FULL.db [--data ../shared/data/librispeech_sample]
        [--items 220] [--batch 8] [--first 20] [--growth 2] [--alpha 0.05] [--name racing_evidence]

`benchmarks/racing.py` prints the folder of its stores; FULL.db is the grid run in full. This
script replays the race's schedule (sweep.racing: the same shard order and rounds) on the full
run's items and, for every configuration, tests it against the configuration that the *full* run
found most accurate (an oracle leader, which no race has) at each round's items: the paired
difference of the corpus error and its one-sided p-value (speechbudget.paired). It reports the
first round at which that test falls below the race's Bonferroni level (alpha / (rounds x
(configurations - 1))) and below alpha itself (no correction). A configuration never below the
level must run every item in any race that keeps the full run's answer without a tolerance; the
sum of the items each configuration needs is then a lower bound on the race's item evaluations,
and the same sum weighted by each configuration's measured processing seconds per item bounds its
compute. Results: benchmarks/results/<name>.{json,md}.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from results_io import write_results  # benchmarks/results_io.py

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True, help="the full run's results store (.db)")
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "librispeech_sample"))
    ap.add_argument("--items", type=int, default=220)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--first", type=int, default=20)
    ap.add_argument("--growth", type=float, default=2.0)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--name", default="racing_evidence")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()

    from speechbudget.analysis.source import load_results
    from speechbudget.paired import corpus_error_of, pair_items, paired_difference
    from speechbudget.sweep.plan import race_rounds
    from speechbudget.sweep.racing import race_order
    from speechbudget.tasks.asr.runner import STAGES, AsrTask

    loaded = load_results(args.store)
    task = AsrTask(batch_size=args.batch, max_items=args.items)
    dataset = task.load_dataset(args.data)
    configs = [c for c, _ in loaded.results]
    items = {c.key: {it.item_id: it for it in loaded.items[c.key] if it.ok} for c in configs}
    best = min(configs, key=lambda c: (corpus_error_of(list(items[c.key].values()), "wer"), c.key))
    shards = race_order(task.shards(best, dataset))
    rounds = race_rounds([len(s.item_ids) for s in shards], args.first, args.growth)
    level = args.alpha / (len(rounds) * max(1, len(configs) - 1))
    total_items = sum(len(s.item_ids) for s in shards)

    def seconds_per_item(c) -> float:
        its = list(items[c.key].values())
        return sum(sum(it.timings.get(k, 0.0) for k in STAGES)
                   for it in its) / max(1, len(its))

    rows, need = [], {"bonferroni": 0, "alpha": 0}
    cost = {"bonferroni": 0.0, "alpha": 0.0, "full": 0.0}
    for c in sorted(configs, key=lambda c: corpus_error_of(list(items[c.key].values()), "wer")):
        per_round, first = [], {"bonferroni": None, "alpha": None}
        for r, k in enumerate(rounds):
            ids = [i for s in shards[:k] for i in s.item_ids]
            n = len(ids)
            if c.key == best.key:
                per_round.append((n, None, None))
                continue
            a = [items[c.key][i] for i in ids if i in items[c.key]]
            b = [items[best.key][i] for i in ids if i in items[best.key]]
            d = paired_difference(pair_items(a, b, "wer"))
            p = d.worse_by_more_than_p(0.0)
            per_round.append((n, d.diff, p))
            for rule, lev in (("bonferroni", level), ("alpha", args.alpha)):
                if first[rule] is None and p < lev and r < len(rounds) - 1:
                    first[rule] = n
        spi = seconds_per_item(c)
        cost["full"] += spi * total_items
        for rule in need:
            n = first[rule] or total_items
            need[rule] += n
            cost[rule] += spi * n
        rows.append({"config": c.label, "wer": corpus_error_of(list(items[c.key].values()), "wer"),
                     "s_per_item": spi, "rounds": per_round,
                     "first_stop_bonferroni": first["bonferroni"], "first_stop_alpha": first["alpha"]})
    full_items = total_items * len(configs)
    out = {"store": args.store, "best": best.label, "rounds_items": [r[0] for r in rows[0]["rounds"]],
           "level": level, "alpha": args.alpha, "configs": rows,
           "min_item_ratio": {k: v / full_items for k, v in need.items()},
           "min_compute_ratio": {k: cost[k] / cost["full"] for k in need}}
    md = [f"# How early could a race stop each configuration? ({len(configs)} configurations, "
          f"{total_items} utterances)", "",
          f"Replayed on the full run's items in the race's order and rounds "
          f"({', '.join(str(n) for n in out['rounds_items'])} items); each configuration against "
          f"the full run's most accurate, **{best.label}** (an oracle leader). One-sided paired "
          f"p-value that it is worse; Bonferroni level {level:.2g} (the race's), alpha "
          f"{args.alpha}.", "",
          "| configuration | WER | s/item | p at each round | first stop (Bonferroni) | "
          "first stop (alpha, no correction) |", "|---|---|---|---|---|---|"]
    for r in rows:
        ps = " / ".join("-" if p is None else f"{p:.2g}" for _, _, p in r["rounds"])
        md.append(f"| {r['config']} | {r['wer']:.4f} | {r['s_per_item']:.3f} | {ps} | "
                  f"{r['first_stop_bonferroni'] or 'never'} | {r['first_stop_alpha'] or 'never'} |")
    md += ["", "Lower bounds for a race that stops a configuration only once it is shown worse "
           "than the most accurate (and must keep the tie group, which no test can show early):",
           "", "| level | item evaluations / full | compute (measured s) / full |",
           "|---|---|---|",
           f"| Bonferroni (the race's) | {out['min_item_ratio']['bonferroni']:.2f} | "
           f"{out['min_compute_ratio']['bonferroni']:.2f} |",
           f"| alpha {args.alpha}, no correction | {out['min_item_ratio']['alpha']:.2f} | "
           f"{out['min_compute_ratio']['alpha']:.2f} |", "",
           f"Command: `python benchmarks/racing_evidence.py --store FULL.db --items {args.items} "
           f"--batch {args.batch} --first {args.first} --growth {args.growth:g} "
           f"--alpha {args.alpha}` (FULL.db: {args.store})"]
    print(write_results(Path(args.out) / args.name, out, md))


if __name__ == "__main__":
    main()
