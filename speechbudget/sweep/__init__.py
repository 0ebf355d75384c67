"""Sweeps: plans (grid, star, iso-FLOPs, adaptive), execution (local, processes, Ray) and a
crash-safe SQLite results store that resumes.

    from speechbudget.sweep import load_spec, run_sweep, ResultsStore
    summary = run_sweep(load_spec("examples/asr_star.yaml"), "runs.db")
    for config, metrics in ResultsStore("runs.db").metrics(task="asr"):
        print(config.label, metrics.value, metrics.gflops)
"""
from speechbudget.sweep.plan import Plan, plan_configurations
from speechbudget.sweep.run import RunSummary, run_sweep
from speechbudget.sweep.spec import SpecError, SweepSpec, load_spec, spec_from_dict
from speechbudget.sweep.store import ResultsStore, StoreError

__all__ = ["load_spec", "spec_from_dict", "SweepSpec", "SpecError", "run_sweep", "RunSummary",
           "ResultsStore", "StoreError", "Plan", "plan_configurations"]
