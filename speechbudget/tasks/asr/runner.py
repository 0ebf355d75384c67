"""The ASR task: Whisper on a dataset under one configuration -> ItemResults -> ConfigMetrics.

    from speechbudget.axes import Config
    from speechbudget.tasks.asr.runner import evaluate
    metrics, items = evaluate(Config(task="asr", model="tiny.en", window=15, stride=2),
                              "data/librispeech_sample", device="cpu")

`AsrTask` implements `tasks.base.Task` for the sweep: shards are length-sorted batches of
`batch_size` utterances; `run_shard` never raises for a bad item (it comes back ok=False with the
reason); `aggregate` gives corpus WER with a seeded bootstrap 95% CI, mean GFLOPs per utterance
(from `speechbudget.flops.estimate` with the decoded token counts), stage timings, RTF and RTFx
(after a warm-up, on this machine, threads recorded) and peak memory.

Latency as a distribution: beside the batched throughput (`rtf`), each configuration can record
per-utterance latency at batch size 1 after the warm-up - the wall seconds of transcribing one
utterance alone (features, encoder, decoder, long-form logic), no reuse cache - on the first
`latency_items` utterances of the dataset (dataset order, so every configuration is timed on the
same ones), as p50 / p90 seconds and p50 / p90 per-utterance RTF (ConfigMetrics.latency_p50_s,
rtf_p90, ...; percentiles by linear interpolation). `latency_items=0` (the default) skips the
extra runs, except with `batch_size=1` and no reuse cache, where the run itself is already per
utterance and every item's wall time is its latency at no extra cost. With a sweep's reuse cache a
batch-1 run may reuse another configuration's features or encoder states, so its wall time is no
latency: only `latency_items` gives one there. Measuring 8 items at batch 1 adds about 8
single-utterance runs per configuration.

Language (`language`, default "en"; `tasks.asr.eval_language`): the code of the dataset's speech.
A multilingual model is prompted <|code|><|transcribe|> and WER is computed after that
language's normaliser (`wer.normalizer_for`: English's for "en", the basic one otherwise); "en"
keeps the bundle's prompt and the English normaliser, as before the option existed. An
English-only model with another language is refused (ConfigError naming `language`) when its
pipeline is built; `asr eval` and sweep files check it against the configuration's architecture
before any work. A result scored in another language than English says so (item and metrics
`extra["language"]`), so that what reads it back (report.utterances) normalises alike.
"""
from __future__ import annotations

import hashlib
import platform
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from speechbudget.machine import default_device, usable_cores
from speechbudget.memory import MemoryPeak, module_mb
from speechbudget.axes import Config
from speechbudget.geometry import MEL_FRAMES_PER_S, SAMPLE_RATE
from speechbudget.records import ConfigMetrics, ItemResult
from speechbudget.tasks.asr.data import AsrDataset, load_dataset
from speechbudget.tasks.asr.pipeline import AsrPipeline
from speechbudget.tasks.asr.precision import cast_for_precision
from speechbudget.tasks.asr.transcript import Transcript
from speechbudget.tasks.asr.windows import Row, window_gflops
from speechbudget.tasks.asr.eval_language import DEFAULT_LANGUAGE, check_eval_language
from speechbudget.tasks.asr.wer import bootstrap_ci, normalize, wer_from_counts, word_errors
from speechbudget.tasks.base import Shard

STAGES = ("features", "encoder", "decoder")


WARM_PER = ("model", "configuration")  # AsrTask(warm_per=...): what one warm-up covers


class AsrTask:
    """Whisper ASR as a `tasks.base.Task` (see the module docstring)."""

    name = "asr"
    # run_shard evaluates any subset of a shard's items as it would in the whole shard, so a
    # sweep's --retry-failed runs only the failed items again (sweep/driver.py)
    item_subsets = True

    def __init__(self, batch_size: int = 8, max_items: int | None = None, warmup: bool = True,
                 model_path: str | None = None, n_boot: int = 1000, seed: int = 0,
                 adapter: str | Path | None = None, latency_items: int = 0,
                 adapter_cache: str | Path | None = None,
                 adapt_data: str | Path | None = None, adapt_batch_size: int = 8,
                 warm_per: str = "model",
                 adapt_lr: float = 1e-3, mel_padding: str = "zeros",
                 language: str = DEFAULT_LANGUAGE):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r}: expected an integer >= 1")
        if isinstance(latency_items, bool) or not isinstance(latency_items, int) \
                or latency_items < 0:
            raise ValueError(f"latency_items={latency_items!r}: expected an integer >= 0 "
                             "(utterances timed alone at batch size 1; 0: none)")
        self.latency_items = latency_items
        self.batch_size = batch_size
        self.max_items = max_items
        self.warmup = warmup
        if warm_per not in WARM_PER:
            raise ValueError(f"warm_per={warm_per!r}: expected one of {', '.join(WARM_PER)}")
        self.warm_per = warm_per
        from speechbudget.log_mel import MEL_PADDINGS
        if mel_padding not in MEL_PADDINGS:
            raise ValueError(f"mel_padding={mel_padding!r}: expected one of "
                             f"{', '.join(MEL_PADDINGS)} (what fills a window past its audio)")
        self.mel_padding = mel_padding
        # the speech's language: the decoder prompt and the WER normaliser (module docstring)
        self.language = check_eval_language(language)
        self.model_path = model_path  # weights to use instead of the config's model name
        self.adapter = adapter        # an adapter folder (tasks.asr.adapt) for adapted configs
        # adapted configurations with training steps and no `adapter`: trained once each and
        # cached (tasks.asr.adapt_cache; default folder $SPEECHBUDGET_CACHE/asr-adapters)
        from speechbudget.tasks.asr.adapt_cache import AdapterCache
        if adapter_cache is None:
            from speechbudget.models.ct2_to_hf import cache_root
            adapter_cache = cache_root() / "asr-adapters"
        self.adapters = AdapterCache(adapter_cache, adapt_data, adapt_batch_size, adapt_lr, seed)
        self.n_boot = n_boot
        self.seed = seed
        self._bundles: dict[tuple[str, str], Any] = {}  # loaded WhisperBundles by (model, device)
        self._models: dict[tuple[str, str, str], Any] = {}
        self._warm: set[tuple] = set()

    def share_weights_with(self, other: "AsrTask") -> "AsrTask":
        """Use `other`'s loaded bundles (and load into them), so that two tasks (e.g. one per
        adapter) do not load the same weights twice; returns self."""
        self._bundles = other._bundles
        return self

    # ---- Task protocol ------------------------------------------------------------------------
    def load_dataset(self, source: str | Path | AsrDataset, audio_column: str | None = None,
                     text_column: str | None = None, speaker_column: str | None = None,
                     id_column: str | None = None,
                     audio_root: str | Path | None = None) -> AsrDataset:
        """The dataset, read as `asr eval` reads it with --audio-column ... --audio-root (a
        sweep file's `data: {path, audio_column, ...}`: sweep.spec_data)."""
        if isinstance(source, AsrDataset):
            return source.limit(self.max_items)
        from speechbudget.tasks.asr.data import Columns
        return load_dataset(source, limit=self.max_items, audio_root=audio_root,
                            columns=Columns(audio=audio_column, text=text_column,
                                            speaker=speaker_column, id=id_column))

    def shards(self, config: Config, dataset: AsrDataset) -> list[Shard]:
        """Batches of `batch_size` utterances, longest first (same for every configuration, so
        cached features and encoder states line up)."""
        order = sorted(dataset.items, key=lambda it: (-dataset.duration(it), it.id))
        shards = []
        for n, i in enumerate(range(0, len(order), self.batch_size)):
            ids = tuple(it.id for it in order[i:i + self.batch_size])
            digest = hashlib.sha1("\n".join(ids).encode()).hexdigest()[:8]
            shards.append(Shard(f"asr-{n:05d}-{digest}", ids, {"n": len(ids)}))
        return shards

    def run_shard(self, config: Config, dataset: AsrDataset, shard: Shard, device: str,
                  cache: Any | None = None) -> list[ItemResult]:
        if config.task != "asr":
            raise ValueError(f"AsrTask got a {config.task!r} configuration: {config.label}")
        self.check_language(config)   # before an adapter is trained for it
        trained = None
        if self.adapter is None:
            from speechbudget.tasks.asr.adapt_cache import needs_training
            if needs_training(config):   # train it once (or find it cached) for this config
                trained = self.adapters.get(self.bundle(config.model, device), config, dataset,
                                            device)
        pipe = self.pipeline(config, device, None if trained is None else trained.path)
        refused: dict[str, str] = {}   # utterances a given supervised adapter trained on
        if self.adapter is not None and (config.adaptation.method != "none"
                                         or config.adaptation.unfreeze_top):
            from speechbudget.tasks.asr.adapt import held_out_problems
            ids = set(shard.item_ids)
            refused = held_out_problems(self.adapter, [it for it in dataset.items if it.id in ids],
                                        dataset.source)
        dev = torch.device(device)
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        results: dict[str, ItemResult] = {}
        audio_of: dict[str, Any] = {}
        load_s: dict[str, float] = {}
        for item_id in shard.item_ids:
            try:
                item = dataset[item_id]
            except KeyError:
                results[item_id] = ItemResult(item_id, ok=False,
                                              error=f"{item_id}: not in dataset {dataset.source}")
                continue
            if item.problem or item_id in refused:
                results[item_id] = ItemResult(item_id, ok=False, reference=item.text,
                                              error=item.problem or refused[item_id])
                continue
            t0 = time.perf_counter()
            try:
                audio = dataset.load_audio(item)
            except Exception as e:  # AudioError and anything a decoder library raises
                results[item_id] = ItemResult(item_id, ok=False, reference=item.text,
                                              error=f"{type(e).__name__}: {e}")
                continue
            load_s[item_id] = time.perf_counter() - t0
            audio_of[item_id] = audio
        transcripts: dict = {}
        if audio_of:
            key = self.warm_key(pipe, config, device, self.warm_per)
            if self.warmup and key not in self._warm:
                pipe.warm_up()
                self._warm.add(key)
            cache_before = getattr(cache, "bytes", 0)
            try:
                t_run = time.perf_counter()
                with MemoryPeak() as rss:  # CPU: peak allocation increase of this run
                    transcripts = pipe.transcribe_items(list(audio_of.items()), self.batch_size,
                                                        cache)
                t_run = time.perf_counter() - t_run
            except Exception as e:  # a failure of the whole batch: every item reports it
                for item_id in audio_of:
                    results[item_id] = ItemResult(item_id, ok=False,
                                                  reference=dataset[item_id].text,
                                                  error=f"batch failed: {type(e).__name__}: {e}")
        peak = _peak_mem_mb(dev)
        if dev.type != "cuda" and audio_of and rss.increase_mb is not None:
            # weights (as loaded, at their precision) + what the run itself added, less what it
            # left in the reuse cache (kept for later configurations, not this one's peak)
            grown = max(0, getattr(cache, "bytes", 0) - cache_before) / 2**20
            peak = module_mb(pipe.model) + max(0.0, rss.increase_mb - grown)
        latency = self._latencies(pipe, dataset, audio_of, transcripts, t_run, dev,
                                  cached=cache is not None) if transcripts else {}
        for item_id, tr in transcripts.items():
            results[item_id] = self._item_result(config, dataset[item_id], tr, pipe,
                                                 load_s[item_id], peak,
                                                 len(audio_of[item_id]) / SAMPLE_RATE)
            if item_id in latency:
                results[item_id].extra["latency_s"] = latency[item_id]
            if trained is not None:   # what the adapter cost to train, for aggregate()
                results[item_id].extra["adapter"] = trained.to_dict()
        return [results[i] for i in shard.item_ids]

    @staticmethod
    def warm_key(pipe: AsrPipeline, config: Config, device: str, per: str = "model") -> tuple:
        """What one warm-up covers. per "model" (the default): a model (name and weights source,
        precision, adaptation: `pipe.tag`) on a device. A sweep's later configurations of that
        model run warm, as they would in one process that serves them all; the first batch at a
        new window or stride meets its shapes cold, which the sweep's timing keeps. per
        "configuration" (the rule before 2026-12-04): also the window, stride, stride position,
        pool and beam, so every configuration pays its own warm-up
        (benchmarks/results/warm_up.md measures what that changes)."""
        if per == "configuration":
            return (pipe.tag, device, config.window, config.stride, config.stride_at, config.pool,
                    config.beam_size)
        return (pipe.tag, device)

    def _latencies(self, pipe: AsrPipeline, dataset: AsrDataset, audio_of: dict[str, Any],
                   transcripts: dict, run_s: float, dev: torch.device,
                   cached: bool = False) -> dict[str, float]:
        """Per-utterance latency at batch size 1 (module docstring): the run itself when it was
        one utterance at batch size 1 without a reuse cache (`cached`: it may have reused
        another configuration's features or encoder states, which a lone request would not
        have), else a timed run alone for the first `latency_items` utterances of the dataset
        that are in this shard."""
        if self.batch_size == 1 and len(audio_of) == 1 and not cached:
            return {next(iter(audio_of)): run_s}
        if not self.latency_items:
            return {}
        first = {it.id for it in dataset.items[:self.latency_items]}
        out = {}
        for item_id, audio in audio_of.items():
            if item_id not in first or item_id not in transcripts:
                continue
            _sync_device(dev)
            t0 = time.perf_counter()
            pipe.transcribe_items([(item_id, audio)], 1, None)
            _sync_device(dev)
            out[item_id] = time.perf_counter() - t0
        return out

    def aggregate(self, config: Config, results: Sequence[ItemResult]) -> ConfigMetrics:
        ok = [r for r in results if r.ok]
        failed = len(results) - len(ok)
        m = ConfigMetrics(config_key=config.key, task="asr", metric="wer", value=float("nan"),
                          n_items=len(ok), n_failed=failed)
        m.extra.update(_machine(), failures=[{"item_id": r.item_id, "error": r.error}
                                             for r in results if not r.ok][:50])
        if self.language != DEFAULT_LANGUAGE:   # scored by another normaliser than English's
            m.extra["language"] = self.language
        if not ok:
            return m
        errors = [r.errors for r in ok]
        n_ref = [r.n_ref for r in ok]
        if sum(n_ref) > 0:
            m.value = wer_from_counts(errors, n_ref)
            m.ci_low, m.ci_high = bootstrap_ci(errors, n_ref, self.n_boot, seed=self.seed)
        audio_s = sum(r.audio_s for r in ok)
        for s in STAGES + ("load",):
            m.timings[s] = sum(r.timings.get(s, 0.0) for r in ok)
        proc = sum(m.timings[s] for s in STAGES)
        m.rtf = proc / audio_s if audio_s > 0 else None
        m.rtfx = audio_s / proc if proc > 0 else None
        flops = [r.gflops for r in ok if r.gflops is not None]
        if len(flops) == len(ok):
            m.gflops = sum(flops) / len(ok)
            m.gflops_per_audio_s = sum(flops) / audio_s if audio_s > 0 else None
        set_latency(m, ok)
        trained = next((r.extra["adapter"] for r in ok if r.extra.get("adapter")), None)
        if trained is not None:   # adapted: training FLOPs and time beside inference
            m.train_gflops = trained["train_flops"] / 1e9
            m.extra["adapter"] = trained
            m.extra["train_wall_s"] = trained["train_wall_s"]
        peaks = [r.extra.get("peak_mem_mb") for r in ok if r.extra.get("peak_mem_mb")]
        m.peak_mem_mb = max(peaks) if peaks else None
        m.extra.update(audio_s=audio_s, decoded_tokens=sum(r.decoded_tokens for r in ok),
                       chunks=sum(r.chunks for r in ok),
                       multi_chunk_items=sum(1 for r in ok if r.chunks > 1),
                       stopped_by_limit=sum(1 for r in ok if r.extra.get("stopped_by_limit")),
                       no_speech_windows=sum(r.extra.get("no_speech_windows", 0) for r in ok),
                       repetition_cut=sum(1 for r in ok if r.extra.get("repetition_cut")),
                       encoder_ms_per_utt=1000 * m.timings["encoder"] / len(ok),
                       decoder_ms_per_utt=1000 * m.timings["decoder"] / len(ok))
        return m

    # ---- models ---------------------------------------------------------------------------------
    def bundle(self, model: str, device: str) -> Any:
        key = (self.model_path or model, device)
        if key not in self._bundles:
            from speechbudget.models.loading import load_whisper
            self._bundles[key] = load_whisper(self.model_path or model, device=device)
        if self.model_path:  # the configuration's architecture must be that of the weights
            from speechbudget.models.weights_arch import check_weights_arch
            check_weights_arch(model, self._bundles[key].arch, self.model_path)
        return self._bundles[key]

    def check_language(self, config: Config) -> None:
        """ConfigError naming `language` where `config` cannot be evaluated in the task's
        language: an English-only model with another code; an adapted configuration with
        another code than "en" (adapters are trained and distilled with the English prompt,
        tasks.asr.adapt, so a German evaluation of one would score another prompt than it was
        trained for)."""
        if self.language == DEFAULT_LANGUAGE:
            return
        check_eval_language(self.language, model=config.model)
        if config.adaptation.method != "none" or config.adaptation.unfreeze_top:
            from speechbudget.axes import ConfigError
            raise ConfigError("language", self.language,
                              f"'en' for an adapted configuration ({config.label}): adapters "
                              "are trained with the English prompt")

    def pipeline(self, config: Config, device: str, adapter: str | Path | None = None
                 ) -> AsrPipeline:
        """The pipeline of `config`; an adapted one uses `adapter` (else the task's)."""
        self.check_language(config)
        bundle = self.bundle(config.model, device)
        adapted = config.adaptation.method != "none" or config.adaptation.unfreeze_top
        adapter = adapter if adapter is not None else self.adapter
        if adapted and adapter is None:
            raise ValueError(f"{config.label}: an adapted ASR configuration needs its adapter "
                             "folder (AsrTask(adapter=DIR), `asr eval --adapter DIR`; train one "
                             "with `speechbudget asr adapt`)")
        mkey = (self.model_path or config.model, device, config.precision,
                config.key if adapted else None)
        if mkey not in self._models:
            base = bundle.model
            if adapted:
                from speechbudget.tasks.asr.adapter_files import load_adapter
                base = load_adapter(adapter, config, base, merge=True)
            self._models[mkey] = cast_for_precision(base, config.precision, device)
        # "en": the bundle's prompt as it is (None), as before the option existed
        language = None if self.language == DEFAULT_LANGUAGE else self.language
        return AsrPipeline(bundle, config, device, model=self._models[mkey],
                           mel_padding=self.mel_padding, language=language)

    def _item_result(self, config: Config, item, tr: Transcript, pipe: AsrPipeline,
                     load_s: float, peak: float | None, audio_s: float) -> ItemResult:
        rows = tr.windows
        hyp = tr.text
        lang = self.language
        we = word_errors(item.text, hyp, language=lang)
        # decoded tokens: every generated token (timestamp tokens too) of every window and every
        # decoding attempt (temperature fallback), incl. end-of-text (a window stopped by the
        # length limit or a repetition loop generated none)
        per_window = [r.decode_steps for r in rows]
        decoded = sum(per_window)
        timings = {s: sum(r.t[s] for r in rows) for s in STAGES}
        timings["load"] = load_s
        return ItemResult(
            item.id, ok=True, prediction=hyp, reference=item.text, errors=we.errors,
            n_ref=we.n_ref, decoded_tokens=decoded, audio_s=audio_s, chunks=len(rows),
            gflops=_window_gflops(config, rows, per_window, pipe), timings=timings,
            extra={"substitutions": we.substitutions, "deletions": we.deletions,
                   "insertions": we.insertions,
                   "window_s": rows[0].frames / MEL_FRAMES_PER_S if rows
                   else config.window_s_for(audio_s),
                   "stopped_by_limit": any(r.by_limit for r in rows),
                   "repetition_cut": any(r.by_loop for r in rows),
                   "windows": len(rows), "no_speech_windows": tr.no_speech_windows,
                   "silent_windows": tr.silent_windows,
                   "timestamps": any(r.timestamps for r in rows),
                   "segments": [[sg.start, sg.end, sg.text] for sg in tr.segments],
                   "normalized_prediction": normalize(hyp, lang),
                   "normalized_reference": normalize(item.text, lang),
                   "peak_mem_mb": peak,
                   **({} if lang == DEFAULT_LANGUAGE else {"language": lang})})


def evaluate(config: Config, dataset: str | Path | AsrDataset, device: str | None = None,
             batch_size: int = 8, limit: int | None = None, cache: Any | None = None,
             task: AsrTask | None = None, progress: Any = None
             ) -> tuple[ConfigMetrics, list[ItemResult]]:
    """Evaluate one configuration on a dataset: (metrics, per-utterance results)."""
    task = task or AsrTask(batch_size=batch_size, max_items=limit)
    device = device or default_device()
    ds = task.load_dataset(dataset)
    if limit is not None:
        ds = ds.limit(limit)
    results: list[ItemResult] = []
    for shard in task.shards(config, ds):
        results.extend(task.run_shard(config, ds, shard, device, cache))
        if progress is not None:
            progress(len(shard.item_ids))
    return task.aggregate(config, results), results


def _window_gflops(config: Config, rows: Sequence[Row], tokens: Sequence[int],
                   pipe: AsrPipeline) -> float | None:
    """Analytic GFLOPs summed over the windows actually decoded (each its own window length,
    and per decoding attempt its prompt and token counts; the no-speech head where it costs an
    extra LM-head row): `windows.window_gflops`."""
    return sum(window_gflops(config, r, pipe.decoder_for(r.timestamps).no_speech_extra)
               for r in rows)


def set_latency(m: ConfigMetrics, ok: Sequence[ItemResult]) -> None:
    """Latency percentiles of the items that carry `extra["latency_s"]` (see the module doc)."""
    import numpy as np
    timed = [r for r in ok if r.extra.get("latency_s") is not None and (r.audio_s or 0) > 0]
    if not timed:
        return
    lat = np.array([float(r.extra["latency_s"]) for r in timed])
    rtf = lat / np.array([float(r.audio_s) for r in timed])
    m.latency_p50_s, m.latency_p90_s = (float(np.percentile(lat, q)) for q in (50, 90))
    m.rtf_p50, m.rtf_p90 = (float(np.percentile(rtf, q)) for q in (50, 90))
    m.latency_n = len(timed)


def _sync_device(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mem_mb(device: torch.device) -> float | None:
    """GPU: the allocator's peak since the shard started. CPU: None here (run_shard measures the
    allocation increase of the run itself, memory.MemoryPeak; the process high-water mark
    depends on run order)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return None


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {"threads": torch.get_num_threads(), "cpu": cpu, "cores": usable_cores(),
            "torch": torch.__version__}
