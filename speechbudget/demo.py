"""The main job, offline, end to end: sweeps on real recordings, the report, the recommendation.

1. ASR: a star sweep on the bundled LibriSpeech sample (data/librispeech_sample) with the bundled
   Whisper tiny.en and multilingual base — centre tiny.en, 30 s window, stride 1; then the model,
   the window (20, 15, 10 s, dynamic) and the token stride (2, 4 after encoder layer 2) varied one
   at a time; and a second, small star around stride 2 that moves where the stride applies
   (before layer 0, after layer 2, on the output); and base with a 15 s window and with stride 2,
   so that the scaling-law fit has points off the centre for both models.
2. SER (when an emotion manifest is given or ../shared/data/emotion_sample exists): the clip
   duration (xT) swept for a frozen tiny.en encoder + trained head over actor-disjoint folds.
3. The report (HTML + Markdown + plots) and the recommendation under the given limits.

All results go into one SQLite store in the output folder; running the demo again resumes it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from speechbudget.sweep.spec import SweepSpec, spec_from_dict

REPO = Path(__file__).resolve().parents[1]
BUNDLED_ASR = REPO / "data" / "librispeech_sample"
SHARED_EMOTION = REPO.parent / "shared" / "data" / "emotion_sample"


@dataclass
class DemoResult:
    store: Path
    report: Path
    specs: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    recommendation: Any = None


def default_asr_data() -> Path:
    if not (BUNDLED_ASR / "manifest.jsonl").exists():
        raise FileNotFoundError(f"{BUNDLED_ASR}: the bundled LibriSpeech sample is missing; "
                                "pass --asr-data PATH (a manifest or LibriSpeech folder)")
    return BUNDLED_ASR


def default_emotion_data() -> Path | None:
    return SHARED_EMOTION if (SHARED_EMOTION / "manifest.jsonl").exists() else None


def demo_specs(asr_data: Path, emotion_data: Path | None, asr_items: int | None = None,
               ser_folds: int = 5) -> list[SweepSpec]:
    """The sweeps the demo runs, as validated sweep specs (the same as a user's YAML files)."""
    asr_options = {"batch_size": 8, "max_items": asr_items}
    specs = [
        spec_from_dict({
            "name": "demo-asr-star", "task": "asr", "data": str(asr_data),
            "task_options": asr_options, "models": ["tiny.en", "base"],
            "axes": {"window": [30, 20, 15, 10, "dynamic"], "stride": [1, 2, 4],
                     "stride_at": [2], "pool": ["mean"]},
            "plan": {"type": "star", "centre": {"model": "tiny.en", "window": 30, "stride": 1}},
        }),
        spec_from_dict({
            "name": "demo-asr-stride-position", "task": "asr", "data": str(asr_data),
            "task_options": asr_options, "models": ["tiny.en"],
            "axes": {"window": [30], "stride": [2], "stride_at": [2, 0, "output"],
                     "pool": ["mean"]},
            "plan": {"type": "star",
                     "centre": {"model": "tiny.en", "window": 30, "stride": 2, "stride_at": 2}},
        }),
        spec_from_dict({  # base off the centre too, so the scaling-law fit has enough points
            "name": "demo-asr-base", "task": "asr", "data": str(asr_data),
            "task_options": asr_options, "models": ["base"],
            "axes": {"window": [30, 15], "stride": [1, 2], "stride_at": [2], "pool": ["mean"]},
            "plan": {"type": "star", "centre": {"model": "base", "window": 30, "stride": 1}},
        }),
    ]
    if emotion_data is not None:
        specs.append(spec_from_dict({
            "name": "demo-ser-duration", "task": "ser", "data": str(emotion_data),
            "task_options": {"folds": ser_folds},
            "models": ["tiny.en"],
            "axes": {"window": [4, 1, 2, 3, 5], "adaptation": ["none"]},
            "plan": {"type": "star", "centre": {"model": "tiny.en", "window": 4}},
        }))
    return specs


def run_demo(out_dir: str | Path = "speechbudget-demo", asr_data: str | Path | None = None,
             emotion_data: str | Path | None = None, device: str | None = None,
             limits: Any = None, asr_items: int | None = None, with_ser: bool = True,
             progress: bool = True) -> DemoResult:
    """Run the demo sweeps into `out_dir/runs.db`, write `out_dir/report/`, and recommend."""
    from speechbudget.analysis.recommend import recommend
    from speechbudget.analysis.source import load_results
    from speechbudget.report import build_report
    from speechbudget.sweep.run import run_sweep

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    store = out / "runs.db"
    asr = Path(asr_data) if asr_data else default_asr_data()
    emo = Path(emotion_data) if emotion_data else (default_emotion_data() if with_ser else None)
    result = DemoResult(store=store, report=out / "report" / "index.html")
    for spec in demo_specs(asr, emo, asr_items=asr_items):
        summary = run_sweep(spec, store, device=device, progress=progress)
        result.specs.append(spec.name)
        result.failures.update(summary.failures)
    result.report = build_report(store, out / "report", limits=limits)
    loaded = load_results(store, task="asr")
    result.recommendation = recommend(loaded.results, limits, task="asr",
                                      machine=loaded.machine, source=str(store),
                                      items=loaded.items)
    return result
