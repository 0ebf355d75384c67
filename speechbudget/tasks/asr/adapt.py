"""Label-free ASR adaptation: self-distillation of a cheaper configuration towards the full model.

The teacher is the same Whisper model, stock weights, at a 30 s window and stride 1. The student
is that model under the configuration being adapted (window or "dynamic", token stride, where it
applies, pool), with trainable parameters chosen by `config.adaptation`: LoRA of rank `rank` on the
encoder's `targets` (q_proj, v_proj by default; PEFT) and/or the top `unfreeze_top` encoder layers.
The decoder is frozen. No transcripts are used:

    teacher pass (once per training utterance, greedy, the normal AsrPipeline at 30 s):
        y = teacher's transcript tokens, E_t = teacher encoder output
    student step (a batch of utterances; the student's own log-mel at its own window):
        E_s = encode(student encoder, mel, stride, stride_at, pool)
        ids = prompt + y                                  (teacher forcing on the teacher's text)
        p_t = softmax(decoder(ids, E_t)), p_s = softmax(decoder(ids, E_s))
        loss = mean over the |y| + 1 predicted positions (y and <|endoftext|>) of KL(p_t || p_s)

Deterministic: the LoRA init uses torch's RNG seeded with `seed`; the batches follow a fixed
schedule (a seeded permutation per epoch); the model runs in eval mode (no dropout). Resumable:
`checkpoint.pt` in the output folder holds the step, the trainable tensors and the optimiser state;
a run started again with the same configuration and options continues from it.

An adapter folder holds `adapter.safetensors` (the trainable tensors of the encoder) and
`adapter.json` (the configuration it belongs to, a hash of the base model's weights, the options and
the training record: losses, wall time, peak memory; `train_items`: the utterances it trained
on). `load_adapter` refuses an adapter trained for another configuration or another base model,
naming the field that differs; `held_out_problems` names the evaluated utterances a supervised
adapter trained on (evaluation does not score them).
Utterances longer than the student's window are refused (long-form is another issue).

Supervised adaptation (objective "supervised", when transcripts exist): the same trainable
parameters and adapter format; the loss is the cross-entropy of the reference transcript's tokens
(`target_text`: Whisper's leading space; an all-capitals transcript in sentence case) and
<|endoftext|> under teacher forcing, the student at its own configuration; no teacher pass.

Training FLOPs: every step's exact forward + backward FLOPs (flops.asr_training.step_flops on
the step's batch shapes) and the teacher's greedy passes are summed into the record
(`step_flops`, `teacher_flops`, `flops_breakdown`; adapter.json's `train.train_flops` is the sum).
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
import warnings
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from speechbudget.axes import Adaptation, Config
from speechbudget.memory import MemoryPeak
from speechbudget.models import whisper_encoder as we
from speechbudget.models.fingerprint import weights_fingerprint
from speechbudget.tasks.asr.pipeline import AsrPipeline

ADAPTER_FILE = "adapter.safetensors"
INFO_FILE = "adapter.json"
CHECKPOINT_FILE = "checkpoint.pt"
FORMAT = "speechbudget-asr-adapter/1"


class AdapterError(ValueError):
    """An adapter that does not fit: the message names the field (or file) and both values."""


@dataclass(frozen=True)
class DistillOptions:
    batch_size: int = 8
    lr: float = 1e-3
    seed: int = 0
    checkpoint_every: int = 25
    snapshot_steps: tuple[int, ...] = ()   # also save a full adapter at these steps (step-NNNN/)

    def __post_init__(self) -> None:
        for name in ("batch_size", "checkpoint_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise AdapterError(f"{name}={v!r}: expected an integer >= 1")
        if not self.lr > 0:
            raise AdapterError(f"lr={self.lr!r}: expected a number > 0")


@dataclass
class Sample:
    id: str
    mel: Tensor                 # the student's log-mel [n_mels, frames]
    tokens: list[int]           # the target: the teacher's greedy transcript ("distill") or the
                                # reference transcript ("supervised"); no special tokens
    teacher_enc: Tensor | None  # [T, d] teacher encoder output at 30 s ("distill" only)
    teacher_flops: float = 0.0  # FLOPs of the teacher's greedy pass on this utterance


@dataclass
class TrainRecord:
    steps: int = 0
    losses: list[float] = field(default_factory=list)
    wall_s: float = 0.0         # training steps (this run and any earlier runs resumed from)
    teacher_s: float = 0.0      # the teacher passes
    peak_mem_mb: float | None = None  # peak RSS sampled during the steps; None: not measurable
    items: int = 0
    step_flops: float = 0.0     # FLOPs of the optimiser steps (flops.asr_training.step_flops)
    teacher_flops: float = 0.0  # FLOPs of the teacher's greedy passes (once per utterance)
    flops_breakdown: dict[str, float] = field(default_factory=dict)

    @property
    def train_flops(self) -> float:
        """Everything this adapter cost to train: the teacher passes and the steps."""
        return self.step_flops + self.teacher_flops


def teacher_config(config: Config) -> Config:
    """The same model at its full window, stride 1, no adaptation."""
    return Config(task="asr", model=config.model, window=config.arch.max_window_s or 30.0,
                  precision=config.precision)


def stock_config(config: Config) -> Config:
    return config.with_(adaptation=Adaptation())


FINGERPRINT_KIND = "weights-sha1"   # adapter.json's fingerprint_kind (absent: legacy_fingerprint)


def model_fingerprint(model: nn.Module) -> str:
    """What identifies the base model an adapter belongs to: a hash of every weight it holds
    (models.fingerprint.weights_fingerprint), so two checkpoints under one name differ."""
    return weights_fingerprint(model)


def legacy_fingerprint(model: nn.Module) -> str:
    """The fingerprint of adapters written before FINGERPRINT_KIND (no `fingerprint_kind` in
    their adapter.json): shapes and two sums of three tensors. Only to check those adapters; it
    does not tell apart checkpoints that differ elsewhere."""
    h = hashlib.sha1()
    params = dict(model.named_parameters())
    for name in ("model.encoder.conv1.weight", "model.encoder.layers.0.fc1.weight",
                 "model.decoder.embed_tokens.weight"):
        p = params.get(name)
        if p is None:
            continue
        p = p.detach().float().cpu()
        h.update(f"{name}:{tuple(p.shape)}:{p.sum().item():.6e}:{p.abs().sum().item():.6e}"
                 .encode())
    return h.hexdigest()[:16]


# ---- trainable parameters ---------------------------------------------------------------------

def apply_trainable(encoder: nn.Module, adaptation: Adaptation) -> nn.Module:
    """Freeze the encoder, inject LoRA (PEFT) on `adaptation.targets` if method is 'lora', and
    unfreeze the top `unfreeze_top` layers. In place; returns the encoder."""
    for p in encoder.parameters():
        p.requires_grad_(False)
    if adaptation.method == "dama":
        raise AdapterError("adaptation.method='dama': ASR adaptation supports 'lora' and "
                           "unfreeze_top")
    if adaptation.method == "lora":
        from peft import LoraConfig, inject_adapter_in_model

        from speechbudget.models.lora_targets import check_lora_rank, lora_targets_for
        targets = lora_targets_for(encoder, adaptation.targets)
        check_lora_rank(encoder, adaptation)
        cfg = LoraConfig(r=adaptation.rank, lora_alpha=adaptation.alpha,
                         target_modules=list(targets), lora_dropout=0.0, bias="none")
        inject_adapter_in_model(cfg, encoder)
        for n, p in encoder.named_parameters():
            if "lora_" in n:
                p.requires_grad_(True)
    if adaptation.unfreeze_top:
        for layer in list(encoder.layers)[-adaptation.unfreeze_top:]:
            for p in layer.parameters():
                p.requires_grad_(True)
    return encoder


def check_adaptation(bundle: Any, config: Config) -> None:
    """ConfigError (exit 2) when `config`'s LoRA does not fit the loaded model: a target it lacks,
    or a rank above the adapted weights' dimensions (models.lora_targets). prepare and
    prepare_supervised call it, so a bad rank is refused before the teacher pass."""
    if config.adaptation.method == "lora":
        from speechbudget.models.lora_targets import check_lora_rank
        check_lora_rank(bundle.model.model.encoder, config.adaptation)


def trainable_state(encoder: nn.Module) -> dict[str, Tensor]:
    return {n: p.detach().cpu().contiguous().clone() for n, p in encoder.named_parameters()
            if p.requires_grad}


def student_model(base: nn.Module, adaptation: Adaptation) -> nn.Module:
    """A copy of `base` with the trainable parameters of `adaptation` set up (decoder frozen)."""
    model = copy.deepcopy(base).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    apply_trainable(model.model.encoder, adaptation)
    return model


# ---- teacher targets ---------------------------------------------------------------------------

def prepare(bundle: Any, config: Config, items: Sequence[tuple[str, np.ndarray]],
            batch_size: int = 8, device: str = "cpu",
            teacher_from: Sequence[Sample] | None = None) -> list[Sample]:
    """Teacher transcripts and encoder outputs, and the student's log-mel, for each utterance.
    `teacher_from`: samples prepared for another configuration of the same model and items,
    whose teacher outputs are reused (the teacher does not depend on the student)."""
    check_adaptation(bundle, config)  # before the teacher pass
    if teacher_from is not None:
        student = AsrPipeline(bundle, stock_config(config), device)
        rows = []
        for (item_id, audio), t in zip(items, teacher_from):
            if t.id != item_id:
                raise AdapterError(f"teacher_from: item {t.id!r} where {item_id!r} was expected")
            r = student.rows_for(item_id, audio)
            if len(r) != 1:
                raise AdapterError(f"{item_id}: longer than the window ({config.label})")
            rows += r
        student.features(rows)
        return [Sample(t.id, r.mel.clone(), t.tokens, t.teacher_enc, t.teacher_flops)
                for t, r in zip(teacher_from, rows)]
    teacher = AsrPipeline(bundle, teacher_config(config), device)
    student = AsrPipeline(bundle, stock_config(config), device)
    t_rows, s_rows = [], []
    for item_id, audio in items:
        tr, sr = teacher.rows_for(item_id, audio), student.rows_for(item_id, audio)
        if len(tr) != 1 or len(sr) != 1:
            raise AdapterError(f"{item_id}: {len(audio) / 16000:.2f} s is longer than the window "
                               f"({config.label}); distillation needs utterances that fit")
        t_rows += tr
        s_rows += sr
    teacher.run(t_rows, batch_size)
    student.features(s_rows)
    return [Sample(i, s.mel.clone(), list(t.tokens), t.enc.clone(), _pass_flops(teacher, t))
            for (i, _), t, s in zip(items, t_rows, s_rows)]


def _pass_flops(pipe: AsrPipeline, row: Any) -> float:
    """Inference FLOPs of the greedy pass that produced `row` (as tasks.asr.runner counts them)."""
    from speechbudget.flops.estimate import estimate
    n = row.generated + (0 if row.by_limit or row.by_loop else 1)
    cfg = pipe.config.with_(window=row.frames / 100, timestamps="auto", longform="sequential")
    return float(estimate(cfg, decoded_tokens=n, prompt_tokens=row.prompt_tokens or None,
                          no_speech_head=pipe.decoder_for(row.timestamps).no_speech_extra).total)


def text_tokens(tokenizer: Any, text: str) -> list[int]:
    """Token ids of `text` without special tokens (a tokenizers.Tokenizer or a HF tokenizer)."""
    r = tokenizer.encode(text, add_special_tokens=False)
    return list(r.ids if hasattr(r, "ids") else r)


def target_text(text: str) -> str:
    """A reference transcript as Whisper writes text: a leading space; a transcript written all
    in capitals (LibriSpeech and many read-speech corpora) in sentence case, since Whisper
    never writes that way and teaching it capitals would change its output style. Anything with
    a lower-case letter is kept as written."""
    t = " ".join(text.split())
    if t and not any(ch.islower() for ch in t) and any(ch.isupper() for ch in t):
        t = t.lower()
        t = t[0].upper() + t[1:]
    return " " + t


def prepare_supervised(bundle: Any, config: Config,
                       items: Sequence[tuple[str, np.ndarray, str | None]],
                       device: str = "cpu", source: str = "the data") -> list[Sample]:
    """The student's log-mel and the reference transcript's tokens for each (id, audio, text).
    An utterance without a transcript is refused, naming it and `source` (the manifest)."""
    check_adaptation(bundle, config)
    missing = [i for i, _, t in items if not (t or "").strip()]
    if missing:
        raise AdapterError(f"{source}: supervised adaptation needs transcripts; "
                           f"{len(missing)} of {len(items)} utterances have none (first: "
                           f"{missing[0]!r}); use --adapt distill for untranscribed audio")
    student = AsrPipeline(bundle, stock_config(config), device)
    rows = []
    for item_id, audio, _ in items:
        r = student.rows_for(item_id, audio)
        if len(r) != 1:
            raise AdapterError(f"{item_id}: {len(audio) / 16000:.2f} s is longer than the window "
                               f"({config.label}); adaptation needs utterances that fit")
        rows += r
    student.features(rows)
    limit = int(getattr(config.arch.dims, "max_target_positions", 448)) - len(bundle.prompt_ids) - 1
    out = []
    for (item_id, _, text), r in zip(items, rows):
        toks = text_tokens(bundle.tokenizer, target_text(text))
        if len(toks) > limit:
            raise AdapterError(f"{item_id}: its transcript is {len(toks)} tokens, more than the "
                               f"decoder's {limit}")
        out.append(Sample(item_id, r.mel.clone(), toks, None))
    return out


# ---- the loss ----------------------------------------------------------------------------------

def _groups(samples: Sequence[Sample]) -> list[list[Sample]]:
    """Samples grouped by their student window (a dynamic window: one forward per length)."""
    groups: dict[int, list[Sample]] = {}
    for s in samples:
        groups.setdefault(s.mel.shape[-1], []).append(s)
    return list(groups.values())


def _teacher_forced(group: Sequence[Sample], prompt: Sequence[int], eos: int, dev: Any
                    ) -> tuple[Tensor, Tensor, Tensor]:
    """(ids [B, S], mask of the predicted positions [B, S], the next-token targets [B, S]):
    S = prompt + the longest target; rows padded with eos."""
    P = len(prompt)
    S = P + max(len(s.tokens) for s in group)
    ids = torch.full((len(group), S), eos, dtype=torch.long, device=dev)
    mask = torch.zeros(len(group), S, device=dev)
    for b, s in enumerate(group):
        ids[b, :P] = torch.tensor(list(prompt))
        if s.tokens:
            ids[b, P:P + len(s.tokens)] = torch.tensor(s.tokens)
        mask[b, P - 1:P + len(s.tokens)] = 1.0   # predicts tokens 1..n and <|endoftext|>
    target = torch.cat([ids[:, 1:], torch.full_like(ids[:, :1], eos)], dim=1)
    return ids, mask, target


def adapt_loss(model: nn.Module, config: Config, samples: Sequence[Sample],
               prompt: Sequence[int], eos: int) -> Tensor:
    """The training loss of `config.adaptation.objective` on `samples`:
    "distill": mean KL(teacher || student) over the predicted positions (module docstring);
    "supervised": mean cross-entropy of the reference tokens and <|endoftext|> (teacher forcing).
    Samples are grouped by window (a dynamic window gives each length its own forward)."""
    distill = config.adaptation.objective == "distill"
    dev = next(model.parameters()).device
    total = torch.zeros((), device=dev)
    count = 0
    dec = model.model.decoder
    for group in _groups(samples):
        mel = torch.stack([s.mel for s in group]).to(dev)
        enc_s, _ = we.encode(model.model.encoder, mel, config.stride, config.stride_at,
                             config.pool)
        ids, mask, target = _teacher_forced(group, prompt, eos, dev)
        logp_s = model.proj_out(dec(input_ids=ids, encoder_hidden_states=enc_s,
                                    use_cache=False).last_hidden_state).float().log_softmax(-1)
        if distill:
            if any(s.teacher_enc is None for s in group):
                raise AdapterError("distillation samples need the teacher's encoder output "
                                   "(prepare(), not prepare_supervised())")
            with torch.no_grad():
                enc_t = torch.stack([s.teacher_enc for s in group]).to(dev)
                logp_t = model.proj_out(dec(input_ids=ids, encoder_hidden_states=enc_t,
                                            use_cache=False).last_hidden_state).float() \
                    .log_softmax(-1)
            per = (logp_t.exp() * (logp_t - logp_s)).sum(-1)
        else:
            per = -logp_s.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        total = total + (per * mask).sum()
        count += int(mask.sum().item())
    return total / max(count, 1)


def distill_loss(model: nn.Module, config: Config, samples: Sequence[Sample],
                 prompt: Sequence[int], eos: int) -> Tensor:
    """Mean KL(teacher || student) over the predicted positions of `samples`."""
    if config.adaptation.objective != "distill":
        raise AdapterError(f"adaptation.objective={config.adaptation.objective!r}: "
                           "distill_loss is for 'distill'")
    return adapt_loss(model, config, samples, prompt, eos)


def step_groups(samples: Sequence[Sample], prompt_len: int) -> list[Any]:
    """The shapes a step on `samples` runs (flops.asr_training.StepGroup per window group)."""
    from speechbudget.flops.asr_training import StepGroup
    return [StepGroup(len(g), g[0].mel.shape[-1], prompt_len + max(len(s.tokens) for s in g))
            for g in _groups(samples)]


# ---- training ----------------------------------------------------------------------------------

def schedule(n_items: int, steps: int, batch_size: int, seed: int) -> list[list[int]]:
    """The item indices of each step: a seeded permutation per epoch, consumed in order."""
    order: list[int] = []
    epoch = 0
    while len(order) < steps * batch_size:
        g = torch.Generator().manual_seed(seed * 1000003 + epoch)
        order += torch.randperm(n_items, generator=g).tolist()
        epoch += 1
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(steps)]


def train_step(model: nn.Module, config: Config, batch: Sequence[Sample],
               prompt: Sequence[int], eos: int, opt: torch.optim.Optimizer) -> float:
    """One optimiser step on `batch`; returns the loss before the step."""
    loss = adapt_loss(model, config, batch, prompt, eos)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.item())


def train_adapter(bundle: Any, config: Config, samples: Sequence[Sample], out: str | Path,
                  options: DistillOptions = DistillOptions(),
                  progress: Callable[[int, float], None] | None = None,
                  teacher_s: float = 0.0,
                  item_keys: Mapping[str, Sequence] | None = None) -> "DistillResult":
    """Train the adapter of `config` (objective 'distill' on samples from `prepare`, or
    'supervised' on samples from `prepare_supervised`; `adaptation.steps` steps), checkpointing
    to `out` and resuming from its checkpoint; write the adapter to `out`; returns it with the
    trained model. `progress(step, loss)` is called after each step. The record holds the exact
    training FLOPs (flops.asr_training: the teacher's passes and every step's forward and
    backward), the wall time and the peak RSS sampled during the steps (memory.MemoryPeak).
    adapter.json's `train_items` lists the training utterances (`training_items`: their ids and,
    from `item_keys`, id -> utterance_key, their audio), so an evaluation can check that it
    scores held-out utterances (`held_out_problems`)."""
    from speechbudget.flops.asr_training import step_flops
    a = config.adaptation
    if a.objective not in ("distill", "supervised"):
        raise AdapterError(f"adaptation.objective={a.objective!r}: expected 'distill' or "
                           "'supervised'")
    if a.steps < 1:
        raise AdapterError(f"adaptation.steps={a.steps!r}: expected >= 1 for a trained adapter")
    if not samples:
        raise AdapterError("no training utterances")
    out = Path(out)
    fp = model_fingerprint(bundle.model)
    check_out_folder(out, config, bundle.model, options, fp)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(options.seed)
    model = student_model(bundle.model, a)
    enc = model.model.encoder
    params = [p for p in enc.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=options.lr, weight_decay=0.0)
    seen = training_items([s.id for s in samples], item_keys)
    rec = TrainRecord(items=len(samples), teacher_s=teacher_s,
                      teacher_flops=float(sum(s.teacher_flops for s in samples)))
    ident = {"config": config.to_dict(), "model_fingerprint": fp, "options": options_identity(options),
             "items": [s.id for s in samples]}
    ck = out / CHECKPOINT_FILE
    if ck.exists():
        state = torch.load(ck, weights_only=False)
        if state["ident"] != ident:
            diff = next(k for k in ident if state["ident"].get(k) != ident[k])
            raise AdapterError(f"{ck}: a checkpoint of another run ({diff} differs); remove it or "
                               "use another --out")
        _load_into(enc, state["trainable"], ck)
        opt.load_state_dict(state["optimizer"])
        rec = TrainRecord(**state["record"])
    plan = schedule(len(samples), a.steps, options.batch_size, options.seed)
    prompt, eos = list(bundle.prompt_ids), int(bundle.eos_id)
    with MemoryPeak(interval_s=0.01, trim=False) as mem:
        while rec.steps < a.steps:
            t0 = time.perf_counter()
            batch = [samples[i] for i in plan[rec.steps]]
            rec.losses.append(train_step(model, config, batch, prompt, eos, opt))
            rec.steps += 1
            rec.wall_s += time.perf_counter() - t0
            f = step_flops(config, step_groups(batch, len(prompt)))
            rec.step_flops += f.total
            for k, v in f.breakdown.items():
                rec.flops_breakdown[k] = rec.flops_breakdown.get(k, 0.0) + v
            if mem.peak_mb is not None:      # None where the RSS cannot be read (no /proc)
                rec.peak_mem_mb = max(rec.peak_mem_mb or 0.0, mem.peak_mb)
            if rec.steps in options.snapshot_steps and rec.steps < a.steps:
                snap = config.with_(adaptation=with_steps(a, rec.steps))
                save_adapter(out / f"step-{rec.steps:04d}", enc, snap, fp, options, rec, bundle,
                             seen)
            if rec.steps % options.checkpoint_every == 0 and rec.steps < a.steps:
                torch.save({"ident": ident, "trainable": trainable_state(enc),
                            "optimizer": opt.state_dict(), "record": asdict(rec)}, ck)
            if progress is not None:
                progress(rec.steps, rec.losses[-1])
    save_adapter(out, enc, config, fp, options, rec, bundle, seen)
    if ck.exists():
        ck.unlink()
    return DistillResult(out, model, rec)


def distill(bundle: Any, config: Config, samples: Sequence[Sample], out: str | Path,
            options: DistillOptions = DistillOptions(),
            progress: Callable[[int, float], None] | None = None,
            teacher_s: float = 0.0) -> "DistillResult":
    """`train_adapter` for objective 'distill' (refuses another objective)."""
    if config.adaptation.objective != "distill":
        raise AdapterError(f"adaptation.objective={config.adaptation.objective!r}: expected "
                           "'distill'")
    return train_adapter(bundle, config, samples, out, options, progress, teacher_s)


@dataclass
class DistillResult:
    path: Path
    model: nn.Module
    record: TrainRecord


def with_steps(a: Adaptation, steps: int) -> Adaptation:
    """`a` with another number of training steps (a snapshot's adaptation)."""
    return Adaptation(**{**{f.name: getattr(a, f.name) for f in fields(Adaptation)},
                         "steps": steps})


def options_identity(options: DistillOptions) -> dict:
    """The options that change what is trained (not how often it is checkpointed)."""
    d = asdict(options)
    d.pop("checkpoint_every")
    d.pop("snapshot_steps")
    return d


# ---- saving and loading ------------------------------------------------------------------------

def save_adapter(folder: str | Path, encoder: nn.Module, config: Config, fingerprint: str,
                 options: DistillOptions, record: TrainRecord, bundle: Any = None,
                 train_items: dict | None = None) -> Path:
    from safetensors.torch import save_file
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(trainable_state(encoder), str(folder / ADAPTER_FILE))
    info = {"format": FORMAT, "config": config.to_dict(), "model_fingerprint": fingerprint,
            "fingerprint_kind": FINGERPRINT_KIND, "model_source": getattr(bundle, "source", None), "options": options_identity(options),
            "train": {**asdict(record), "train_flops": record.train_flops},
            "train_items": train_items}
    (folder / INFO_FILE).write_text(json.dumps(info, indent=1))
    return folder


def read_adapter_info(folder: str | Path) -> dict:
    p = Path(folder) / INFO_FILE
    if not p.exists():
        raise AdapterError(f"{folder}: not an adapter folder (no {INFO_FILE})")
    try:
        info = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AdapterError(f"{p}: not readable as JSON ({e}); a damaged adapter folder") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        got = info.get("format") if isinstance(info, dict) else type(info).__name__
        raise AdapterError(f"{p}: format={got!r}, expected {FORMAT!r}")
    for key, kind in (("config", dict), ("model_fingerprint", str)):
        if not isinstance(info.get(key), kind):
            raise AdapterError(f"{p}: {key}={info.get(key)!r}, expected a {kind.__name__}; a "
                               "damaged adapter folder")
    return info


def adapter_config(folder: str | Path, info: dict | None = None) -> Config:
    """The configuration an adapter folder was trained for (`info`: its adapter.json, when
    already read)."""
    from speechbudget.axes import ConfigError
    info = read_adapter_info(folder) if info is None else info
    try:
        return Config.from_dict(info["config"])
    except (ConfigError, TypeError, ValueError) as e:
        raise AdapterError(f"{Path(folder) / INFO_FILE}: config: {e}") from None


# configuration fields that do not change what an adapter is trained to be (the teacher decodes
# greedily without timestamps; the student's log-mel and encoder do not depend on them)
DECODING_ONLY = ("beam_size", "timestamps", "longform")


def training_config(config: Config) -> Config:
    """`config` with its decoding-only fields (DECODING_ONLY) at their defaults: the part of the
    configuration an adapter is trained for."""
    defaults = Config(task="asr", model=config.model)
    return config.with_(**{k: getattr(defaults, k) for k in DECODING_ONLY})


def check_adapter(folder: str | Path, config: Config, model: nn.Module,
                  fingerprint: str | None = None) -> dict:
    """Refuse (AdapterError naming the field) an adapter trained for another configuration or
    another base model (other weights: model_fingerprint; `fingerprint`: that of `model`, when
    already computed); returns its info. Decoding-only fields (beam size, timestamps,
    long-form) may differ: they do not change the adapter."""
    info = read_adapter_info(folder)
    saved = adapter_config(folder, info)
    mine, theirs = training_config(config).to_dict(), training_config(saved).to_dict()
    for k in order_keys(mine, theirs):
        if k == "adaptation":
            for ak in order_keys(mine[k], theirs[k]):
                if mine[k].get(ak) != theirs[k].get(ak):
                    raise AdapterError(f"adapter {folder} was trained for adaptation.{ak}="
                                       f"{theirs[k].get(ak)!r}, not {mine[k].get(ak)!r} "
                                       f"({saved.label} vs {config.label})")
        elif mine.get(k) != theirs.get(k):
            raise AdapterError(f"adapter {folder} was trained for {k}={theirs.get(k)!r}, not "
                               f"{mine.get(k)!r} ({saved.label} vs {config.label})")
    kind = info.get("fingerprint_kind")
    if kind not in (None, FINGERPRINT_KIND):
        raise AdapterError(f"{Path(folder) / INFO_FILE}: fingerprint_kind={kind!r}, expected "
                           f"{FINGERPRINT_KIND!r}; written by a newer speechbudget?")
    if kind is None:        # written before the weights hash: checked the old (weaker) way
        fp = legacy_fingerprint(model)
    else:
        fp = fingerprint if fingerprint is not None else model_fingerprint(model)
    if info["model_fingerprint"] != fp:
        raise AdapterError(f"adapter {folder} was trained on another base model (model "
                           f"fingerprint {info['model_fingerprint']}, this model {fp}; trained "
                           f"from {info.get('model_source')})")
    return info


def check_out_folder(out: str | Path, config: Config, model: nn.Module,
                     options: DistillOptions, fingerprint: str | None = None) -> None:
    """Refuse to train into `out` when it already holds a finished adapter of another
    configuration, base model or training options (it would be overwritten); an adapter of the
    same run is trained again (the result is the same)."""
    out = Path(out)
    if not (out / INFO_FILE).exists():
        return
    try:
        info = check_adapter(out, config, model, fingerprint)
        if info.get("options") != options_identity(options):
            theirs = info.get("options") or {}
            mine = options_identity(options)
            k = next(k for k in order_keys(mine, theirs) if mine.get(k) != theirs.get(k))
            raise AdapterError(f"adapter {out} was trained with {k}={theirs.get(k)!r}, not "
                               f"{mine.get(k)!r}")
    except AdapterError as e:
        raise AdapterError(f"{out} holds another adapter ({e}); remove it or use another "
                           "--out") from None


def order_keys(a: dict, b: dict) -> list:
    """The keys of `a` then those of `b` not in `a`."""
    return list(a) + [x for x in b if x not in a]


def _load_into(encoder: nn.Module, state: dict[str, Tensor], where: Any) -> None:
    own = dict(encoder.named_parameters())
    want = {n for n, p in own.items() if p.requires_grad}
    if set(state) != want:
        extra, missing = sorted(set(state) - want), sorted(want - set(state))
        raise AdapterError(f"{where}: tensors do not match the adaptation (missing "
                           f"{missing[:3]}, unexpected {extra[:3]})")
    with torch.no_grad():
        for n, t in state.items():
            if own[n].shape != t.shape:
                raise AdapterError(f"{where}: {n} has shape {tuple(t.shape)}, the model "
                                   f"{tuple(own[n].shape)}")
            own[n].copy_(t.to(own[n].device, own[n].dtype))


def load_adapter(folder: str | Path, config: Config, base: nn.Module, merge: bool = False
                 ) -> nn.Module:
    """A copy of `base` with the adapter in `folder` (checked against `config` and `base`).
    `merge`: fold LoRA into the weights (inference then costs exactly the stock FLOPs)."""
    from safetensors.torch import load_file
    check_adapter(folder, config, base)
    model = student_model(base, config.adaptation)
    weights = Path(folder) / ADAPTER_FILE
    try:
        state = load_file(str(weights))
    except Exception as e:  # missing, truncated or not safetensors (SafetensorError, OSError)
        raise AdapterError(f"{weights}: cannot be read ({type(e).__name__}: {e}); a damaged "
                           "adapter folder") from None
    _load_into(model.model.encoder, state, weights)
    for p in model.parameters():
        p.requires_grad_(False)
    if merge:
        for m in model.modules():
            if hasattr(m, "lora_A") and hasattr(m, "merge"):
                m.merge()
    return model


# ---- the training utterances and held-out evaluation -------------------------------------------

@dataclass
class TrainingAudio:
    """The utterances an adapter can train on, read: `items` (AsrItems) with their `audio`
    (waveforms), and `skipped`: (id, why) of the others."""

    items: list[Any]
    audio: list[np.ndarray]
    skipped: list[tuple[str, str]]

    def skipped_line(self) -> str | None:
        """'skipped 2 of 5 utterances (first: b: /x/gone.flac: no such audio file)', or None."""
        if not self.skipped:
            return None
        n = len(self.skipped) + len(self.items)
        i, why = self.skipped[0]
        return f"skipped {len(self.skipped)} of {n} utterances (first: {i}: {why})"


def read_training_audio(dataset: Any) -> TrainingAudio:
    """Read each item's audio for adaptation, skipping (and listing) the items that cannot be
    used, as evaluation records them as failed items: one the dataset marked (`problem`: no
    audio column, ...) and one whose audio is missing or unreadable (AudioError, or what a
    decoder library raises). DatasetError (exit 3) naming the source and the first problem when
    no utterance is left."""
    from speechbudget.errors import DatasetError, SpeechbudgetError
    items, audio, skipped = [], [], []
    for it in dataset.items:
        if it.problem:
            skipped.append((it.id, it.problem))
            continue
        try:
            a = dataset.load_audio(it)
        except Exception as e:  # noqa: BLE001 - AudioError and any decoder library's error
            skipped.append((it.id, str(e) if isinstance(e, SpeechbudgetError)
                            else f"{type(e).__name__}: {e}"))
            continue
        items.append(it)
        audio.append(a)
    if not items:
        i, why = skipped[0]
        raise DatasetError(f"{dataset.source}: no utterance to adapt on: all {len(skipped)} "
                           f"could not be read (first: {i}: {why})")
    return TrainingAudio(items, audio, skipped)


def utterance_key(item: Any, source: str) -> tuple:
    """What identifies an utterance across datasets: its audio file (resolved) and cut; for
    in-memory audio (a HF dataset), the dataset and row."""
    if item.audio is not None:
        return (str(Path(item.audio).resolve()), item.start_s, item.end_s)
    return (source, item.index, item.id)


def training_items(ids: Sequence[str], keys: Mapping[str, Sequence] | None = None) -> dict:
    """adapter.json's `train_items`: the training utterances' `count`, sorted `ids`, `ids_sha1`
    (sha1 of the sorted ids joined by newlines: compare two adapters' training sets at a
    glance) and `audio` (each one's utterance_key, sorted; None unless `keys` has every id)."""
    uniq = sorted(set(ids))
    audio = None
    if keys is not None and all(i in keys for i in uniq):
        audio = sorted((list(keys[i]) for i in uniq), key=repr)
    return {"count": len(ids), "ids": uniq,
            "ids_sha1": hashlib.sha1("\n".join(uniq).encode()).hexdigest(), "audio": audio}


def held_out_problems(folder: str | Path, items: Iterable[Any], source: str,
                      info: dict | None = None) -> dict[str, str]:
    """{item id: why it must not be scored} for the evaluated `items` (AsrItems of the dataset
    `source`) that a *supervised* adapter in `folder` was trained on: the same audio (file and
    cut, utterance_key, whatever the id), or the same id where adapter.json records no audio.
    Scoring them would report the WER of training transcripts. A "distill" adapter never read a
    transcript, so adapting on the evaluated audio is test-time adaptation: {} (nothing refused).
    Warns (without refusing) when a supervised adapter's adapter.json does not list its training
    utterances (written before it did: nothing to check against), and when evaluated
    utterances share only an id with training ones (other audio files: moved data?)."""
    info = read_adapter_info(folder) if info is None else info
    if adapter_config(folder, info).adaptation.objective != "supervised":
        return {}
    rec = info.get("train_items")
    if not isinstance(rec, dict) or not isinstance(rec.get("ids"), list):
        warnings.warn(f"adapter {folder}: its {INFO_FILE} does not list the utterances it was "
                      "trained on (written by an older speechbudget), so nothing shows that the "
                      "evaluated utterances were held out from its supervised training",
                      stacklevel=2)
        return {}
    ids = set(map(str, rec["ids"]))
    audio = {tuple(k) for k in rec["audio"]} if isinstance(rec.get("audio"), list) else None
    out: dict[str, str] = {}
    other_audio = False
    for it in items:
        if audio is not None and tuple(utterance_key(it, source)) in audio:
            how = "its audio"
        elif audio is None and it.id in ids:
            how = "its id"
        else:
            other_audio = other_audio or it.id in ids
            continue
        out[it.id] = (f"{it.id}: trained on by the supervised adapter {folder} ({how} is "
                      f"one of the {rec.get('count', len(ids))} training utterances in its "
                      f"{INFO_FILE}); not scored: its WER would be that of a training transcript")
    if other_audio:
        warnings.warn(f"adapter {folder}: some evaluated utterances have the ids of its "
                      "training utterances but other audio files; if the data was moved or "
                      f"copied they were seen in training (compare {INFO_FILE} train_items)",
                      stacklevel=2)
    return out


def distill_config(config: Config, rank: int = 8, unfreeze_top: int = 0, steps: int = 100,
                   targets: Sequence[str] | None = None, objective: str = "distill") -> Config:
    """`config` with a trained adaptation (LoRA rank `rank`, 0 = none; `unfreeze_top` layers)
    of `objective` ("distill", or "supervised" on transcripts) for `steps` steps."""
    kw: dict[str, Any] = dict(method="lora" if rank else "none", rank=rank,
                              unfreeze_top=unfreeze_top, objective=objective, steps=steps)
    if targets and rank:
        kw["targets"] = tuple(targets)
    return config.with_(adaptation=Adaptation(**kw))


def steps_of(n_items: int, epochs: float, batch_size: int) -> int:
    return max(1, math.ceil(n_items * epochs / batch_size))
