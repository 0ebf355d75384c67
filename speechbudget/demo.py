"""The main job, offline, end to end: sweeps on real recordings, the report, the recommendation.

1. ASR: a star sweep on the bundled LibriSpeech sample (data/librispeech_sample) with the bundled
   Whisper tiny.en and multilingual base — centre tiny.en, 30 s window, stride 1; then the model,
   the window (20, 15, 10 s, dynamic) and the token stride (2, 4 after encoder layer 2) varied one
   at a time; and a second, small star around stride 2 that moves where the stride applies
   (before layer 0, after layer 2, on the output); and base with a 15 s window and with stride 2,
   so that the scaling-law fit has points off the centre for both models.
2. SER (when an emotion manifest is given or ../shared/data/emotion_sample exists): the clip
   duration (xT) swept for a frozen tiny.en encoder + linear head (head: auto) over
   actor-disjoint folds.
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
                                "pass --data PATH (a manifest or LibriSpeech folder)")
    return BUNDLED_ASR


def default_emotion_data() -> Path | None:
    return SHARED_EMOTION if (SHARED_EMOTION / "manifest.jsonl").exists() else None


ASR_SPECS = ("asr_star.yaml", "asr_stride_position.yaml", "asr_base.yaml")
SER_SPECS = ("ser_duration.yaml",)


def packaged_spec(name: str) -> dict[str, Any]:
    """One of the demo's sweep files (package data in speechbudget/demo_specs/), as a dict."""
    from importlib.resources import files

    import yaml
    text = files("speechbudget").joinpath("demo_specs", name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def demo_specs(asr_data: Path, emotion_data: Path | None, asr_items: int | None = None,
               ser_folds: int = 5) -> list[SweepSpec]:
    """The sweeps the demo runs: the packaged YAML files (the same format as a user's sweep
    files) with the data, the item limit and the folds filled in, validated."""
    specs = []
    for name in ASR_SPECS:
        d = packaged_spec(name)
        d["data"] = str(asr_data)
        d["task_options"] = {**d.get("task_options", {}), "max_items": asr_items}
        specs.append(spec_from_dict(d))
    if emotion_data is not None:
        for name in SER_SPECS:
            d = packaged_spec(name)
            d["data"] = str(emotion_data)
            d["task_options"] = {**d.get("task_options", {}), "folds": ser_folds}
            specs.append(spec_from_dict(d))
    return specs


def run_demo(out_dir: str | Path = "speechbudget-demo", asr_data: str | Path | None = None,
             emotion_data: str | Path | None = None, device: str | None = None,
             limits: Any = None, asr_items: int | None = None, with_ser: bool = True,
             progress: bool = False) -> DemoResult:
    """Run the demo sweeps into `out_dir/runs.db`, write `out_dir/report/`, and recommend.

    Prints nothing unless `progress` is True (then each sweep shows its progress bars; the CLI
    `speechbudget demo` turns it on)."""
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
