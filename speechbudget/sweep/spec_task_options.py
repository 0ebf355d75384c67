"""A sweep file's `task_options`: the options each built-in task takes (TASK_OPTIONS) and their
types, a custom runner's plain values, ASR's adaptation options and ASR's `language`.

`language` (the dataset's speech; tasks.asr.eval_language) is a code such as "de", checked
against every model of the file (an English-only one takes "en" only); "auto" / null
(detection) is refused. "en", the default, is left out of the options as if not written, so a
store written before the option existed, or without it, resumes with `language: en` and the
other way round (the options are part of each stored configuration's context)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from speechbudget.sweep.spec_paths import resolve_data
from speechbudget.sweep.spec_values import number

#: task options of the built-in tasks: name -> accepted types (None = may be null).
#: tests/hardening checks these against the tasks' signatures.
_NUM = (int, float)
TASK_OPTIONS: dict[str, dict[str, tuple]] = {
    "asr": {"batch_size": (int,), "max_items": (int, None), "warmup": (bool,), "warm_per": (str,),
            "model_path": (str, None), "n_boot": (int,), "seed": (int,), "adapter": (str, None),
            "latency_items": (int,),
            # adapted configurations (adaptation with steps): tasks.asr.adapt_cache
            "adapter_cache": (str, None), "adapt_data": (str, None), "adapt_batch_size": (int,),
            "adapt_lr": _NUM,
            # what fills a window past its audio (log_mel.MEL_PADDINGS)
            "mel_padding": (str,),
            # the speech's language (tasks.asr.eval_language; "auto"/null refused with a reason)
            "language": (str, None)},
    "ser": {"folds": (int,), "epochs": (int,), "seed": (int,), "batch_size": (int,),
            "max_folds": (int, None), "source": (str, None), "lr": _NUM, "backbone_lr": _NUM,
            "weight_decay": _NUM, "warmup_ratio": _NUM, "patience": (int,), "pooling": (str,),
            "layer_weights": (bool,), "dropout": _NUM, "train_crop": (str,),
            "eval_batch_size": (int,), "progress": (bool,), "head": (str,), "linear_c": _NUM,
            "linear_select": (str,), "linear_cv_folds": (int,), "linear_score": (str,),
            "head_init": (str,), "probe_epochs": (int,), "refit": (bool,),
            "cache_prefix": (bool,)},
}


#: built-in task options that limit how much runs: at least one (null: no limit). 0 or less ran
#: nothing: max_folds 0 stored a SER configuration 'done' with no item and a NaN UA
_AT_LEAST_ONE = ("max_items", "max_folds")


def check_task_options(task: str, opts: dict[str, Any], custom: bool,
                       err) -> dict[str, Any]:
    """Built-in tasks: known names, scalar values of the right type (a number option also takes
    1e-4 written so: `spec_values.number`). A custom runner's options must still be plain
    scalars or short lists of them (passed as written). Returns the options."""
    schema = TASK_OPTIONS.get(task, {})
    opts = dict(opts)
    for k, v in opts.items():
        key = f"task_options.{k}"
        if custom:
            ok = isinstance(v, (str, int, float, bool, type(None))) or (
                isinstance(v, list) and len(v) <= 1000 and
                all(isinstance(x, (str, int, float, bool, type(None))) for x in v))
            if not ok:
                raise err(key, f"{type(v).__name__}: a runner's options are scalars or lists "
                               "of scalars")
            continue
        if k not in schema:
            raise err(key, f"not an option of task {task}; options are {', '.join(schema)}")
        types = schema[k]
        if v is None and None in types:
            continue
        if str not in types and (float in types or int in types):
            v = opts[k] = number(v, integer=float not in types)
        real = tuple(t for t in types if t is not None)
        if isinstance(v, bool) and bool not in real or not isinstance(v, real):
            names = " or ".join("null" if t is None else t.__name__ for t in types)
            raise err(key, f"{v!r} ({type(v).__name__}): expected {names}")
        if k in _AT_LEAST_ONE and v < 1:
            raise err(key, f"{v!r}: expected an integer >= 1 (or null: no limit)")
    if task == "asr" and not custom and "language" in opts:
        opts = check_language_option(opts, (), err)
    return opts


def check_language_option(opts: dict[str, Any], models, err) -> dict[str, Any]:
    """ASR's `language`: a language code every model of `models` (registry names) decodes, else
    err naming task_options.language; the default "en" left out of the options (as absent: the
    stored context of a configuration run without it is the same). Returns the options."""
    if "language" not in opts:
        return opts
    from speechbudget.axes import ConfigError
    from speechbudget.tasks.asr.eval_language import DEFAULT_LANGUAGE, check_eval_language
    value = opts["language"]
    try:
        check_eval_language(value)
        for m in models:
            check_eval_language(value, model=m)
    except ConfigError as e:
        raise err("task_options.language", f"{value!r}: expected {e.allowed}") from None
    return {k: v for k, v in opts.items() if k != "language" or v != DEFAULT_LANGUAGE}


def check_adapt_options(opts: dict[str, Any], base_dir: Path, err) -> dict[str, Any]:
    """ASR adaptation options: `adapt_data` resolved like `data` (relative to the spec's folder)
    and required to exist; `adapter_cache` relative to the spec's folder; positive numbers."""
    if opts.get("adapt_data") is not None:
        resolved = resolve_data(opts["adapt_data"], base_dir, from_spec=True)
        if resolved is None:
            raise err("task_options.adapt_data", f"{opts['adapt_data']} does not exist "
                                                 f"(relative to {base_dir.resolve()})")
        opts["adapt_data"] = resolved
    if opts.get("adapter_cache") is not None:
        p = Path(opts["adapter_cache"]).expanduser()
        opts["adapter_cache"] = str(p if p.is_absolute() else (base_dir / p).resolve())
    if "adapt_batch_size" in opts and opts["adapt_batch_size"] < 1:
        raise err("task_options.adapt_batch_size", f"{opts['adapt_batch_size']}: expected >= 1")
    if "adapt_lr" in opts and not opts["adapt_lr"] > 0:
        raise err("task_options.adapt_lr", f"{opts['adapt_lr']}: expected a number > 0")
    return opts
