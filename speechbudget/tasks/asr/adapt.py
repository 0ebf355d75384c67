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

An adapter folder (`adapter.safetensors`, `adapter.json`): `adapter_files`; here, at the end, the
utterances an adapter trains on, and `held_out_problems`, which names the evaluated utterances a
supervised adapter trained on (evaluation does not score them). The loss: `adapt_loss`; the
trainable parameters: `adapt_trainable`; options and record: `adapt_options`.
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

import hashlib
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
import warnings
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from speechbudget.axes import Adaptation, Config
from speechbudget.memory import MemoryPeak
from speechbudget.tasks.asr.adapt_loss import Sample, adapt_loss, step_groups
from speechbudget.tasks.asr.adapt_options import (AdapterError, DistillOptions, TrainRecord,
                                                  options_identity)
from speechbudget.tasks.asr.adapt_trainable import (check_adaptation, student_model,
                                                    trainable_state)
from speechbudget.tasks.asr.adapter_files import (CHECKPOINT_FILE, INFO_FILE, adapter_config,
                                                  check_out_folder, load_into, model_fingerprint,
                                                  read_adapter_info, save_adapter)
from speechbudget.tasks.asr.pipeline import AsrPipeline


def teacher_config(config: Config) -> Config:
    """The same model at its full window, stride 1, no adaptation."""
    return Config(task="asr", model=config.model, window=config.arch.max_window_s or 30.0,
                  precision=config.precision)


def stock_config(config: Config) -> Config:
    return config.with_(adaptation=Adaptation())


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
        load_into(enc, state["trainable"], ck)
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
