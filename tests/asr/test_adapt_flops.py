"""ASR adaptation's training FLOPs (flops.asr_training) = FlopCounterMode over real training steps
of tasks.asr.adapt (forward + backward + the distillation teacher's decoder pass), on a randomly
initialised Whisper with tiny.en's dimensions (eager attention: CPU SDPA counts as 0)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from speechbudget.axes import Config
from speechbudget.flops.asr_training import StepGroup, run_flops, step_flops, teacher_tokens
from speechbudget.models.registry import build_from_config
from speechbudget.tasks.asr import adapt as ad
from speechbudget.tasks.asr.adapt_loss import Sample, step_groups
from speechbudget.tasks.asr.adapt_options import DistillOptions
from speechbudget.tasks.asr.adapt_trainable import student_model
from speechbudget.tasks.asr.adapter_files import read_adapter_info


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_from_config("tiny.en", device="cpu", attn_implementation="eager")


def _samples(frames: list[int], n_tokens: list[int], teacher: bool, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i, (f, n) in enumerate(zip(frames, n_tokens)):
        toks = torch.randint(0, 50000, (n,), generator=g).tolist()
        enc = torch.randn(1500, 384, generator=g) if teacher else None
        out.append(Sample(f"u{i}", torch.randn(80, f, generator=g), toks, enc))
    return out


def _bundle(model):
    return SimpleNamespace(model=model, prompt_ids=[50257, 50362], eos_id=50256, source="random")


CASES = [
    # (window or dynamic, stride, stride_at, pool, rank, targets, unfreeze_top, objective, frames)
    (1, 2, 2, "mean", 4, ("q_proj", "v_proj"), 0, "distill", [100, 100]),
    (1, 2, 1, "attn", 4, ("q_proj", "k_proj", "fc1"), 0, "distill", [100]),
    ("dynamic", 1, "output", "mean", 0, None, 1, "distill", [60, 100]),
    (1, 2, 0, "drop", 2, ("v_proj",), 1, "supervised", [100, 100]),
    (1, 3, "output", "attn", 0, None, 2, "supervised", [100]),
]


@pytest.mark.parametrize("window,stride,at,pool,rank,targets,top,objective,frames", CASES)
def test_step_flops_equal_flopcountermode(model, window, stride, at, pool, rank, targets, top,
                                          objective, frames):
    base = Config(task="asr", model="tiny.en", window=window, stride=stride, stride_at=at,
                  pool=pool)
    cfg = ad.distill_config(base, rank=rank, unfreeze_top=top, steps=2, targets=targets,
                            objective=objective)
    student = student_model(model, cfg.adaptation)
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)
    samples = _samples(frames, [3 + 2 * i for i in range(len(frames))], objective == "distill")
    prompt = [50257, 50362]
    with FlopCounterMode(display=False) as fc:
        ad.train_step(student, cfg, samples, prompt, 50256, opt)
    groups = step_groups(samples, len(prompt))
    assert sum(g.batch for g in groups) == len(samples)
    analytic = step_flops(cfg, groups)
    assert fc.get_total_flops() == analytic.total
    assert all(p.grad is not None for p in params)
    # the distillation teacher is listed apart, and only there
    has_teacher = any(k.startswith("teacher.") for k in analytic.breakdown)
    assert has_teacher == (objective == "distill")
    assert analytic.breakdown["backward.decoder.lm_head"] > 0


def test_whole_run_equals_flopcountermode_and_is_recorded(model, tmp_path):
    """train_adapter's record (adapter.json) = FlopCounterMode over the whole run (2 steps)."""
    cfg = ad.distill_config(Config(task="asr", model="tiny.en", window=1, stride=2, stride_at=2),
                            rank=2, steps=2)
    samples = _samples([100, 100, 100], [4, 2, 5], True, seed=1)
    for s, f in zip(samples, (1e9, 2e9, 3e9)):
        s.teacher_flops = f
    opts = DistillOptions(batch_size=1, seed=0)
    with FlopCounterMode(display=False) as fc:
        res = ad.train_adapter(_bundle(model), cfg, samples, tmp_path / "a", opts)
    rec = res.record
    assert rec.step_flops == fc.get_total_flops()
    assert rec.teacher_flops == 6e9 and rec.train_flops == rec.step_flops + 6e9
    assert sum(rec.flops_breakdown.values()) == pytest.approx(rec.step_flops)
    info = read_adapter_info(tmp_path / "a")
    assert info["train"]["train_flops"] == rec.train_flops and info["train"]["wall_s"] > 0
    plan = ad.schedule(len(samples), 2, 1, 0)
    steps = [step_groups([samples[i] for i in p], 2) for p in plan]
    assert run_flops(cfg, steps, 6e9).total == rec.train_flops


def test_teacher_and_shapes():
    cfg = ad.distill_config(Config(task="asr", model="tiny.en", window=15, stride=2, stride_at=2),
                            rank=8, steps=1)
    assert teacher_tokens(cfg) == 1500
    one = step_flops(cfg, [StepGroup(1, 1500, 20)])
    two = step_flops(cfg, [StepGroup(2, 1500, 20)])
    assert two.total == 2 * one.total
    longer = step_flops(cfg, [StepGroup(1, 1500, 40)])
    assert longer.total > one.total
    sup = step_flops(cfg.with_(adaptation=ad.distill_config(cfg, rank=8, steps=1,
                                                            objective="supervised").adaptation),
                     [StepGroup(1, 1500, 20)])
    assert sup.total == one.total - sum(v for k, v in one.breakdown.items()
                                        if k.startswith("teacher."))
