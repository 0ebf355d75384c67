"""Work reuse in a sweep: a star sweep's wall time against its configurations run one by one.

    python benchmarks/sweep_reuse.py [--spec examples/asr_star.yaml] [--items 8] [--threads 1]

Three timings on the same spec, same machine, same process, one after another:
  one_by_one   each configuration as its own sweep (a fresh task: model loaded again, no shared
               cache), summed: what a user gets running the configurations separately;
  star_nocache the star sweep with the reuse cache off (models are still loaded once);
  star         the star sweep as it runs by default (features per window and encoder outputs
               shared between configurations that differ only after them, in reuse order; one
               warm-up per model, AsrTask.warm_key).
Goal: star / one_by_one <= 1/1.3. Results: benchmarks/results/sweep_reuse.{json,md}.
Converted model weights are loaded once before timing, so disk caching favours neither side.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def machine() -> dict:
    from speechbudget.machine import machine_info
    return machine_info()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=str(REPO / "examples" / "asr_star.yaml"))
    ap.add_argument("--items", type=int, default=8, help="utterances (task option max_items)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--beam", type=int, nargs="+", help="override the spec's beam axis")
    ap.add_argument("--name", default="sweep_reuse", help="results file name")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    from speechbudget.sweep import load_spec, plan_configurations, run_sweep, spec_from_dict
    from speechbudget.sweep.executors import LocalExecutor
    from speechbudget.models.loading import load_whisper

    spec = load_spec(args.spec)
    spec.task_options = {**spec.task_options, "max_items": args.items}
    if args.beam:
        spec.axes["beam_size"] = tuple(args.beam)
    configs = plan_configurations(spec).configs
    for m in spec.models:  # convert/cache weights before timing
        load_whisper(m, device=args.device)
    tmp = Path(tempfile.mkdtemp(prefix="sweep_reuse_"))

    def timed(s, name, **kw) -> tuple[float, object]:
        t0 = time.perf_counter()
        summary = run_sweep(s, tmp / f"{name}.db", progress=False, device=args.device, **kw)
        return time.perf_counter() - t0, summary

    one = {}
    for c in configs:  # each configuration alone
        d = spec.to_dict()
        d.update(models=[c.model], plan="grid", axes={
            "window": [c.window], "stride": [c.stride], "stride_at": [c.stride_at],
            "pool": [c.pool], "precision": [c.precision], "beam": [c.beam_size]})
        d = {k: v for k, v in d.items() if v is not None}
        single = spec_from_dict(d)
        one[c.label], s1 = timed(single, f"one_{c.key}", executor=LocalExecutor(args.device))
        assert s1.finished == 1, s1.failures
    t_nocache, s_nc = timed(spec, "star_nocache",
                            executor=LocalExecutor(args.device, cache_bytes=0))
    t_star, s_star = timed(spec, "star", executor=LocalExecutor(args.device))
    assert s_star.finished == len(configs) and s_nc.finished == len(configs)
    same = sorted((c.key, m.value) for c, m in s_star.metrics) == \
        sorted((c.key, m.value) for c, m in s_nc.metrics)
    t_one = sum(one.values())
    res = {"spec": str(Path(args.spec).resolve().relative_to(REPO)), "items": args.items,
           "beam_override": args.beam,
           "configurations": len(configs), "device": args.device,
           "one_by_one_s": round(t_one, 2), "star_nocache_s": round(t_nocache, 2),
           "star_s": round(t_star, 2), "ratio_star_over_one_by_one": round(t_star / t_one, 3),
           "speedup": round(t_one / t_star, 2),
           "ratio_star_over_star_nocache": round(t_star / t_nocache, 3),
           "goal": "ratio <= 1/1.3 = 0.769", "goal_met": t_star / t_one <= 1 / 1.3,
           "same_metrics_with_and_without_cache": same,
           "per_config_one_by_one_s": {k: round(v, 2) for k, v in one.items()},
           "machine": machine()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(res, indent=2) + "\n")
    m = res["machine"]
    beam = f", beam {args.beam}" if args.beam else ""
    md = [f"# Sweep work reuse ({res['spec']}{beam}, {args.items} utterances, "
          f"{len(configs)} configurations, {args.device})", "",
          "| run | wall s | ratio to one-by-one |", "| --- | ---: | ---: |",
          f"| configurations one by one (sum) | {t_one:.1f} | 1.000 |",
          f"| star sweep, reuse cache off | {t_nocache:.1f} | {t_nocache / t_one:.3f} |",
          f"| star sweep (default) | {t_star:.1f} | {t_star / t_one:.3f} |", "",
          f"Speed-up {res['speedup']}x; goal star/one-by-one <= 0.769: "
          f"{'met' if res['goal_met'] else 'NOT met'}. Same metrics with and without the cache: "
          f"{same}.", "",
          f"Machine: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads, "
          f"torch {m['torch']}, Python {m['python']}.", "",
          "Per configuration, alone (s): " + ", ".join(f"{k} {v}" for k, v in
                                                       res["per_config_one_by_one_s"].items()),
          "", "Command: `python benchmarks/sweep_reuse.py " +
          f"--items {args.items} --threads {args.threads}" +
          (f" --beam {' '.join(map(str, args.beam))} --name {args.name}" if args.beam else "") +
          "`", ""]
    (out / f"{args.name}.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
