"""Adapters a sweep trains: each adapted configuration's adapter trained once, cached, reused.

An ASR configuration whose adaptation trains (LoRA or unfreeze_top, `steps` >= 1; objective
"distill" or "supervised") needs an adapter. `AdapterCache` (owned by an `AsrTask`) trains it on
first use and keeps it in

    <folder>/<training config key>-<model fingerprint>-<data fingerprint>-<options>/
                                                  (adapter.safetensors, adapter.json)

(the training config: the configuration without its decoding-only fields, beam size,
timestamps and long-form, which do not change the adapter; the model fingerprint: a hash of every
weight of the loaded base model, adapter_files.model_fingerprint, so another checkpoint under the
same name or folder is another adapter; options: a hash of the optimiser settings, batch size,
learning rate and seed, which change the adapter too)

so a later shard, a resumed sweep, another worker process or another sweep with the same
configuration, base model and training data finds it there (a file lock makes concurrent workers
train it once; a run killed mid-training resumes from its checkpoint).

Training data: `adapt_data` (a manifest/folder, as the sweep's `data`) when given, else the
sweep's own data. "distill" needs no transcripts, so adapting on the evaluated audio itself is
label-free test-time adaptation (the transcripts are never read); "supervised" trains on
transcripts and therefore requires `adapt_data`, which must not be the evaluated data. Utterances
longer than the configuration's window are left out of training (long-form training is not
supported); none fitting is an error.
"""
from __future__ import annotations

import fcntl
import hashlib
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from speechbudget.axes import Config
from speechbudget.geometry import SAMPLE_RATE
from speechbudget.tasks.asr import adapt as ad
from speechbudget.tasks.asr.adapt_options import AdapterError, DistillOptions, options_identity
from speechbudget.tasks.asr.adapter_files import model_fingerprint
from speechbudget.tasks.asr.adapt import utterance_key
from speechbudget.tasks.asr.adapter_files import INFO_FILE, check_adapter, training_config
from speechbudget.tasks.asr.data import AsrDataset, load_dataset


def needs_training(config: Config) -> bool:
    a = config.adaptation
    return (a.method != "none" or a.unfreeze_top > 0) and a.steps >= 1


def data_fingerprint(dataset: AsrDataset, with_text: bool) -> str:
    h = hashlib.sha1()
    for it in sorted(dataset.items, key=lambda it: it.id):
        h.update(f"{it.id}\t{it.audio}\t{it.start_s}\t{it.end_s}".encode())
        if with_text:
            h.update(f"\t{it.text}".encode())
        h.update(b"\n")
    return h.hexdigest()[:12]


@dataclass
class TrainedAdapter:
    """An adapter folder and what training it cost (read from its adapter.json)."""

    path: Path
    train_flops: float
    train_wall_s: float      # teacher passes + optimiser steps
    steps: int
    items: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "train_flops": self.train_flops,
                "train_wall_s": self.train_wall_s, "steps": self.steps, "items": self.items}


class AdapterCache:
    """Trains and caches adapters for `AsrTask` (see the module docstring). `trained` lists the
    configuration keys this object trained (not found cached)."""

    def __init__(self, folder: str | Path, adapt_data: str | Path | None = None,
                 batch_size: int = 8, lr: float = 1e-3, seed: int = 0):
        self.folder = Path(folder).expanduser()
        self.adapt_data = adapt_data
        self.options = DistillOptions(batch_size=batch_size, lr=lr, seed=seed)
        self.trained: list[str] = []
        self._known: dict[tuple[str, str], TrainedAdapter] = {}
        # model -> its fingerprint, computed once per loaded base model (each shard asks again;
        # a base model is never modified in place: adapters train on a copy)
        self._fingerprints: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _training_data(self, config: Config, evaluated: AsrDataset) -> AsrDataset:
        supervised = config.adaptation.objective == "supervised"
        if self.adapt_data is None:
            if supervised:
                raise AdapterError(f"{config.label}: supervised adaptation in a sweep needs "
                                      "task_options.adapt_data (transcribed audio other than "
                                      "the evaluated data)")
            return evaluated
        ds = load_dataset(self.adapt_data, need_text=supervised)
        if supervised:
            scored = {utterance_key(it, evaluated.source) for it in evaluated.items}
            shared = [it for it in ds.items if utterance_key(it, ds.source) in scored]
            if shared:
                raise AdapterError(
                    f"task_options.adapt_data={self.adapt_data}: supervised adaptation on "
                    f"evaluated utterances would train on the test transcripts ({len(shared)} "
                    f"of its {len(ds.items)} utterances are evaluated, first: {shared[0].id!r})")
        return ds

    def get(self, bundle: Any, config: Config, evaluated: AsrDataset, device: str
            ) -> TrainedAdapter:
        """The adapter of `config`: cached, or trained now (under a lock) and cached."""
        data = self._training_data(config, evaluated)
        supervised = config.adaptation.objective == "supervised"
        fp = self._fingerprints.get(bundle.model)
        if fp is None:
            fp = self._fingerprints[bundle.model] = model_fingerprint(bundle.model)
        opts = hashlib.sha1(repr(sorted(options_identity(self.options).items())).encode()).hexdigest()
        name = (f"{training_config(config).key}-{fp[:16]}-{data_fingerprint(data, supervised)}-"
                f"{opts[:8]}")
        if (name, device) in self._known:
            return self._known[(name, device)]
        out = self.folder / name
        out.mkdir(parents=True, exist_ok=True)
        with open(out / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not (out / INFO_FILE).exists():
                    self._train(bundle, config, data, out, device)
                    self.trained.append(config.key)
                info = check_adapter(out, config, bundle.model, fp)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        t = info["train"]
        got = TrainedAdapter(out, float(t.get("train_flops", 0.0)),
                             float(t.get("wall_s", 0.0)) + float(t.get("teacher_s", 0.0)),
                             int(t.get("steps", 0)), int(t.get("items", 0)))
        self._known[(name, device)] = got
        return got

    def _train(self, bundle: Any, config: Config, data: AsrDataset, out: Path,
               device: str) -> None:
        supervised = config.adaptation.objective == "supervised"
        items, keys = [], {}
        read = ad.read_training_audio(data)   # unreadable utterances skipped, as `asr adapt`
        for it, audio in zip(read.items, read.audio):
            if not len(audio) or \
                    len(audio) > config.window_s_for(len(audio) / SAMPLE_RATE) * SAMPLE_RATE:
                continue   # empty, or longer than the window: not used for training
            items.append((it.id, audio, it.text))
            keys[it.id] = utterance_key(it, data.source)
        if not items:
            raise AdapterError(f"{config.label}: no utterance of {data.source} fits the "
                                  "window; nothing to adapt on")
        t0 = time.perf_counter()
        if supervised:
            samples = ad.prepare_supervised(bundle, config, items, device, source=data.source)
        else:
            samples = ad.prepare(bundle, config, [(i, a) for i, a, _ in items],
                                 self.options.batch_size, device)
        ad.train_adapter(bundle, training_config(config), samples, out, self.options,
                         teacher_s=time.perf_counter() - t0, item_keys=keys)
