"""Per fold: did fine-tuning gain on the test actors where early stopping chose it? Reads the
adaptation rows of a ser_axes.py result (per-clip references and predictions, folds in order) and
compares each trained row, fold by fold, with the frozen head of the same kind (linear or MLP) on
the same clips:

    python benchmarks/ser_fold_gains.py [--results benchmarks/results/ser_axes.json]

Writes <results stem>_fold_gains.{json,md} beside it. No training: arithmetic on stored output.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score as ua

from results_io import write_results
from speechbudget.tasks.ser.data import load_dataset
from speechbudget.tasks.ser.runner import fold_splits

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "ser_axes.json"))
    args = ap.parse_args()
    o = json.loads(Path(args.results).read_text())
    a = o["args"]
    ds = load_dataset(o["data"])
    sizes = [len(fold_splits(ds, a["folds"], a["seed"], k)[2]) for k in range(a["adapt_folds"])]
    bounds = np.cumsum([0] + sizes)
    frozen = o["adaptation"][0]
    refs = frozen["refs"]
    if len(refs) != bounds[-1]:
        raise SystemExit(f"{args.results}: {len(refs)} test clips, but folds of {o['data']} "
                         f"hold {bounds[-1]}")
    rows, chosen = [], []
    for r in o["adaptation"][1:]:
        for h, head in r["heads"].items():
            for k in range(len(sizes)):
                sl = slice(bounds[k], bounds[k + 1])
                base = frozen["preds"][(h.split(":") + [h])[1]][sl]
                d = ua(refs[sl], r["preds"][h][sl]) - ua(refs[sl], base)
                rows.append({"method": r["method"], "recipe": h, "fold": k,
                             "best_epoch": head["best"][k], "ua_minus_frozen_same_head": d})
                if head["best"][k] > 0:
                    chosen.append(d)
    res = Path(args.results).resolve()
    shown = res.relative_to(REPO) if res.is_relative_to(REPO) else res
    md = [f"# Fold by fold: trained backbones vs the frozen head of the same kind ({shown})",
          "", f"Command: `python benchmarks/ser_fold_gains.py --results {shown}`", "",
          "| method | recipe | " + " | ".join(f"fold {k} (epoch, Δ UA)" for k in range(len(sizes)))
          + " |", "|---|---|" + "---|" * len(sizes)]
    for key in dict.fromkeys((x["method"], x["recipe"]) for x in rows):
        cells = [x for x in rows if (x["method"], x["recipe"]) == key]
        md.append(f"| {key[0]} | {key[1]} | " + " | ".join(
            f"{x['best_epoch']:g}, {x['ua_minus_frozen_same_head']:+.3f}" for x in cells) + " |")
    gains = sum(d > 0 for d in chosen)
    md += ["", f"Where a fine-tuned epoch (> 0) was chosen: {len(chosen)} fold-method pairs, "
           f"{gains} above the frozen head of the same kind on that fold's test actors, "
           f"{sum(d < 0 for d in chosen)} below, {sum(d == 0 for d in chosen)} equal"
           + (f" (from {min(chosen):+.3f} to {max(chosen):+.3f})." if chosen else ".")]
    out = Path(args.results).with_name(Path(args.results).stem + "_fold_gains")
    print(write_results(out, {"results": args.results, "fold_sizes": sizes, "rows": rows,
                              "chosen_pairs": len(chosen), "gains": gains}, md))


if __name__ == "__main__":
    main()
