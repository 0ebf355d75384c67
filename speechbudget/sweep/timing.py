"""Run-time predictions for a sweep from a cost model calibrated on this machine.

`flops.estimate.TimeModel` predicts an ASR configuration's processing seconds per utterance as
features + encoder FLOPs at a measured efficiency of the matmul peak + decoded tokens at a
measured per-token decoder cost by model and batch size. This module keeps that calibration:

- `calibrate_time_model(models, data, ...)` measures it here: for each model, the default
  configuration (30 s window) runs the first `items` utterances of `data` at each batch size
  (after a warm-up), and the coefficients are the stage seconds divided by audio seconds,
  encoder GFLOPs / peak, and decoded tokens (as benchmarks/calibrate_time.py, which checks the
  result on other utterances); the decoder is timed again with 15 s windows (half the encoder
  tokens), since a step's cross-attention reads every encoder token. Cost: about one model load
  plus twice `items` utterances per batch size and model (tiny.en, 6 utterances, batch sizes
  1/4/8: ~30 s on a 2-core CPU; base ~2x).
- `save_time_model` / `load_time_model` keep it as JSON, by default
  `<cache>/time_model.json` (`$SPEECHBUDGET_CACHE`, default ~/.cache/speechbudget), written by
  `speechbudget sweep calibrate` and read by `sweep plan` and `runs show`.
- `predict_config_seconds(config, model, durations, batch_size)`: the predicted processing
  seconds of one configuration on utterances of the given lengths (None for what the model does
  not cover: SER, a model not calibrated, a precision other than the calibration's, fp32).
  The encoder term can be rescaled to the matmul peak measured now (`peak_gflops_per_s`), so a
  busier or quieter moment than the calibration's is followed; the decoder term is latency and
  is not rescaled.
- `predict_race_seconds` / `predict_adaptive_seconds`: what can be predicted of a racing or an
  adaptive plan before it runs (which configurations survive or get picked is not known): the
  full grid, the race's first round (spent whatever happens) and its lower/upper bounds; the
  adaptive plan's expected time (n_trials x the space's mean) and its bounds.
Measured seconds to compare with are the stage timings a run records (features + encoder +
decoder per utterance, ConfigMetrics.timings); with the sweep's reuse cache these are the
stages' own cost (a reused state keeps the seconds it took), not the wall time saved.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from speechbudget.axes import Config, ConfigError
from speechbudget.flops.estimate import TimeModel, predict_seconds

FILE_NAME = "time_model.json"
DEFAULT_BATCH_SIZES = (1, 4, 8)
DEFAULT_ITEMS = 6


def default_path() -> Path:
    from speechbudget.models.ct2_to_hf import cache_root
    return cache_root() / FILE_NAME


def save_time_model(tm: TimeModel, path: str | Path | None = None) -> Path:
    p = Path(path) if path is not None else default_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(tm.to_dict(), indent=1))
    tmp.replace(p)
    return p


def load_time_model(path: str | Path | None = None) -> TimeModel | None:
    """The calibration at `path` (default: the cache file); None when the default file does
    not exist. A given path that is missing or not a calibration raises ConfigError naming it."""
    p = Path(path) if path is not None else default_path()
    if not p.exists():
        if path is None:
            return None
        raise ConfigError("time_model", str(p), "an existing calibration file (write one with "
                                                "`speechbudget sweep calibrate`)")
    if not p.is_file():  # a FIFO would block the read for ever
        raise ConfigError("time_model", str(p), "a calibration file (not a folder, FIFO or device)")
    try:
        d = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError("time_model", str(p), f"a JSON calibration file ({e})") from None
    return TimeModel.from_dict(d)


def predict_config_seconds(config: Config, tm: TimeModel, durations: Sequence[float],
                           batch_size: int = 8, peak_gflops_per_s: float | None = None
                           ) -> float | None:
    """Predicted processing seconds of `config` on utterances of `durations` seconds (tokens
    estimated from the audio length, as before a run); None when `tm` does not cover it."""
    if config.task != "asr" or config.model not in tm.encoder_efficiency \
            or config.model not in tm.decoder_s_per_token or config.precision != tm.precision:
        return None
    return float(sum(predict_seconds(config, tm, float(a), batch_size,
                                     peak_gflops_per_s=peak_gflops_per_s)["total"]
                     for a in durations if a and a > 0))


def calibrate_time_model(models: Sequence[str], data: Any, items: int = DEFAULT_ITEMS,
                         batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES, device: str = "cpu",
                         progress: Any = None, first: int = 0) -> TimeModel:
    """Measure a TimeModel on this machine (module docstring). `data`: an ASR dataset (path or
    AsrDataset), of which utterances first .. first + items - 1 are timed; `progress(message)`
    is called after each measurement when given."""
    import statistics

    import torch

    from speechbudget.flops import estimate
    from speechbudget.machine import machine_info
    from speechbudget.models.loading import load_whisper
    from speechbudget.sweep.plan import calibrate_gflops_per_s
    from speechbudget.tasks.asr.data import AsrDataset, load_dataset
    from speechbudget.tasks.asr.pipeline import AsrPipeline

    if not models:
        raise ConfigError("models", list(models), "at least one model name")
    bss = sorted({int(b) for b in batch_sizes})
    if not bss or bss[0] < 1:
        raise ConfigError("batch_sizes", list(batch_sizes), "integers >= 1")
    ds = data if isinstance(data, AsrDataset) else load_dataset(data, limit=first + items)
    its = [it for it in ds.items[first:first + items] if not it.problem]
    if not its:
        raise ConfigError("data", str(getattr(ds, "source", data)), "a dataset with usable "
                                                                     "utterances")
    audios = [ds.load_audio(it) for it in its]
    audio_s = sum(len(a) for a in audios) / 16000
    peak = calibrate_gflops_per_s()
    feats: list[float] = []
    eff: dict[str, float] = {}
    dec: dict[str, dict[int, float]] = {}
    dec_half: dict[str, dict[int, float]] = {}
    for m in models:
        bundle = load_whisper(m, device=device)
        cfg = Config(task="asr", model=m)
        enc_flops = sum(sum(v for k, v in estimate(cfg, audio_s=len(a) / 16000).breakdown.items()
                            if k.startswith("encoder.")) for a in audios)
        enc_s: list[float] = []
        # the decoder's cost per token at 30 s windows (1500 encoder tokens) and at 15 s (750)
        for window, table in ((30.0, dec), (15.0, dec_half)):
            pipe = AsrPipeline(bundle, cfg.with_(window=window), device)
            pipe.warm_up()
            table[m] = {}
            for bs in bss:
                rows = [r for it, a in zip(its, audios) for r in pipe.rows_for(it.id, a)]
                bs = min(bs, len(rows))      # fewer rows than the batch: that is the batch timed
                if bs in table[m]:
                    continue
                with torch.inference_mode():
                    pipe.run(rows, bs)
                st = {k: sum(r.t[k] for r in rows) for k in ("features", "encoder", "decoder")}
                tokens = sum(r.generated + (0 if r.by_limit or r.by_loop else 1) for r in rows)
                table[m][bs] = st["decoder"] / max(tokens, 1)
                if window == 30.0:
                    feats.append(st["features"] / audio_s)
                    enc_s.append(st["encoder"])
                if progress is not None:
                    progress(f"{m} {window:g} s batch {bs}: "
                             f"{st['decoder'] / max(tokens, 1) * 1000:.1f} ms/token")
            del pipe
        eff[m] = enc_flops / 1e9 / min(enc_s) / peak
        del bundle
    threads = torch.get_num_threads()
    info = machine_info(threads)
    desc = (f"calibrated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
            f"{info.get('cpu', '?')}, {threads} threads, device {device}: {len(its)} utterances "
            f"({audio_s:.0f} s, from #{first}) of {getattr(ds, 'source', data)}, batch sizes "
            f"{', '.join(map(str, bss))}, matmul peak {peak:.0f} GFLOP/s")
    return TimeModel(peak, statistics.median(feats), eff, dec, desc, dec_half, cfg.precision)


# ---- racing and adaptive plans: what a prediction can say before the run -------------------
SecondsOf = Callable[[Config, Sequence[float]], "float | None"]


@dataclass(frozen=True)
class RaceTime:
    """Predicted seconds of a racing plan (sweep.racing). Which configurations survive each round
    is only known during the race, so the race is given as bounds:
    - `first_round_s`: every configuration on the first round's items (always spent);
    - `upper_s`: nothing eliminated, every configuration on every item (= `full_s`, the same grid
      without racing);
    - `lower_s`: everything but one configuration eliminated after the first round, the one
      left being the cheapest to finish (at least one always survives).
    `None` in a sum: some configuration has no prediction (`n_unknown` of them)."""

    rounds_items: list[int]             # items each configuration has seen after each round
    first_round_s: float | None
    full_s: float | None
    lower_s: float | None
    upper_s: float | None
    n_unknown: int = 0


@dataclass(frozen=True)
class AdaptiveTime:
    """Predicted seconds of an adaptive plan: `n_trials` of the space's configurations are run,
    which ones only the search knows. `expected_s`: n_trials x the space's mean (a pick that is
    blind to cost); `low_s` / `high_s`: the n_trials cheapest / dearest configurations;
    `full_s`: every configuration of the space."""

    n_trials: int
    n_space: int
    expected_s: float | None
    low_s: float | None
    high_s: float | None
    full_s: float | None
    n_unknown: int = 0


def race_shard_durations(durations: Sequence[float], batch_size: int) -> list[list[float]]:
    """The item lengths of each shard as the ASR task makes them: `batch_size` items per shard,
    longest first (tasks.asr.runner.AsrTask.shards)."""
    if batch_size < 1:
        raise ConfigError("batch_size", batch_size, "an integer >= 1")
    order = sorted((float(d) for d in durations), reverse=True)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def predict_race_seconds(configs: Sequence[Config], durations: Sequence[float],
                         seconds_of: SecondsOf, batch_size: int, first_items: int,
                         growth: float) -> RaceTime:
    """Bounds on a race's processing seconds (RaceTime) from a per-configuration predictor
    `seconds_of(config, item_durations)` (e.g. `predict_config_seconds` with a calibration)."""
    from speechbudget.sweep.plan import race_rounds

    shards = race_shard_durations(durations, batch_size)
    rounds = race_rounds([len(s) for s in shards], first_items, growth) if shards else []
    if not rounds or not configs:
        return RaceTime([], None, None, None, None, 0)
    first = [d for s in shards[:rounds[0]] for d in s]
    rest = [d for s in shards[rounds[0]:] for d in s]
    firsts, fulls, rests, unknown = [], [], [], 0
    for c in configs:
        a, f = seconds_of(c, first), seconds_of(c, [d for s in shards for d in s])
        if a is None or f is None:
            unknown += 1
            continue
        firsts.append(a)
        fulls.append(f)
        rests.append(seconds_of(c, rest) if rest else 0.0)
    items = [sum(len(s) for s in shards[:k]) for k in rounds]
    if unknown:
        return RaceTime(items, None, None, None, None, unknown)
    lower = sum(firsts) + min(r or 0.0 for r in rests)
    return RaceTime(items, sum(firsts), sum(fulls), lower, sum(fulls), 0)


def predict_adaptive_seconds(seconds: Sequence[float | None], n_trials: int) -> AdaptiveTime:
    """Expected and bounding seconds of an adaptive plan (AdaptiveTime) from the predicted
    seconds of each configuration of its space (None: not predicted)."""
    n = min(int(n_trials), len(seconds))
    known = sorted(float(s) for s in seconds if s is not None)
    unknown = len(seconds) - len(known)
    if unknown or not seconds:
        return AdaptiveTime(n, len(seconds), None, None, None, None, unknown)
    total = sum(known)
    return AdaptiveTime(n, len(seconds), total * n / len(known), sum(known[:n]),
                        sum(known[len(known) - n:]), total, 0)
