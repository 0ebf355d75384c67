"""A sweep file's `data`: the dataset's path, or a mapping of its path and how to read it.

    data: ../data/librispeech_sample
    data: {path: m.csv, audio_column: wav, text_column: sentence, audio_root: /corpora/x}

The mapping's other keys are what `asr eval` and `ser train` take on the command line for a
manifest (JSONL/CSV/TSV) whose columns have other names (--audio-column ...), and
--audio-root: DATA_OPTIONS, by task. They describe the data, not the task, so they are here and
not in task_options; the task's `load_dataset(path, **options)` reads them. A column that the
manifest does not have is the same one-line error as on the command line, when the sweep reads
the data. `--data` replaces the path only: the columns still say how to read it. None of them
is stored with the results: the store records what the items are (ids, audio, references),
not where they were read from (sweep.store_data).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from speechbudget.sweep.spec_paths import resolve_data

#: the keys of a `data:` mapping besides `path`, by built-in task: the keyword arguments of the
#: task's load_dataset (AsrTask, SerTask), named as the commands' options are
DATA_OPTIONS: dict[str, tuple[str, ...]] = {
    "asr": ("audio_column", "text_column", "speaker_column", "id_column", "audio_root"),
    "ser": ("audio_column", "label_column", "speaker_column", "audio_root"),
}
def parse_data(raw: Any, task: str, custom: bool, base_dir: Path, override: str | None,
               err) -> tuple[str | None, dict[str, str]]:
    """(the resolved path or None, the data options) of a spec's `data` value; `override`:
    the path given on the command line (--data), which replaces the spec's path."""
    options: dict[str, Any] = {}
    path = raw
    if isinstance(raw, dict):
        keys = ("path",) if custom else ("path", *DATA_OPTIONS.get(task, ()))
        for k in raw:
            if k in keys:
                continue
            if custom:
                raise err(f"data.{k}", "a runner's load_dataset takes the data's path only; "
                                       "give data as a path (or {path: ...})")
            raise err(f"data.{k}", f"not a key of data for task {task}; keys are "
                                   f"{', '.join(keys)}")
        path = raw.get("path")
        options = {k: v for k, v in raw.items() if k != "path"}
        if path is None and override is None and "path" in raw:
            raise err("data.path", "null: expected the data's path")
    for k, v in options.items():
        if not isinstance(v, str) or not v.strip():
            what = "a folder" if k == "audio_root" else "a column name"
            raise err(f"data.{k}", f"{v!r}: expected {what} (a non-empty string)")
    if override is not None:
        path = override
    if path is not None:
        key = "data.path" if isinstance(raw, dict) and override is None else "data"
        if not isinstance(path, str):
            raise err(key, f"{path!r} is not a path")
        resolved = resolve_data(path, base_dir, from_spec=override is None)
        if resolved is None:
            where = f"relative to {base_dir.resolve()} or the current folder" \
                if override is None else "relative to the current folder"
            raise err(key, f"{path} does not exist ({where})")
        path = resolved
    if "audio_root" in options:
        root = _folder(options["audio_root"], base_dir)
        if root is None:
            raise err("data.audio_root", f"{options['audio_root']}: no such folder (relative to "
                                         f"{base_dir.resolve()} or the current folder)")
        options["audio_root"] = root
    return path, options


def _folder(value: str, base_dir: Path) -> str | None:
    """An existing folder, relative to the spec's folder first, then to the current folder."""
    p = Path(value).expanduser()
    for c in [p] if p.is_absolute() else [base_dir / p, p]:
        if c.is_dir():
            return str(c.resolve())
    return None
