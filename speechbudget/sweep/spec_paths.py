"""Paths a sweep file names, resolved against its folder: the data (`resolve_data`, also for
task_options.adapt_data) and a runner's file.py (`resolve_runner`)."""
from __future__ import annotations

import re
from pathlib import Path


def resolve_data(value: str, base_dir: Path, from_spec: bool) -> str | None:
    """An existing path (spec paths relative to the spec's folder first, then to the current
    folder), FOLDER:SPLIT for an existing folder (one split of a saved DatasetDict, as
    `open_dataset` reads it and its error asks for it), or a Hugging Face hub dataset as
    `open_dataset` reads it: `hf:NAME[:CONFIG[:SPLIT]]` kept as given, a bare "org/name" that is
    no path given that prefix; None when none of these."""
    def existing(v: str) -> str | None:
        p = Path(v).expanduser()
        candidates = [p] if p.is_absolute() else ([base_dir / p] if from_spec else []) + [p]
        return next((str(c.resolve()) for c in candidates if c.exists()), None)
    found = existing(value)
    if found is not None:
        return found
    folder, _, split = value.rpartition(":")
    if folder and split and not re.search(r"[/\\]", split):
        found = existing(folder)
        if found is not None and Path(found).is_dir():
            return f"{found}:{split}"
    if value.startswith("hf:") and len(value) > 3:
        return value  # a hub dataset, as open_dataset takes it (examples/README.md)
    if re.fullmatch(r"[\w.-]+/[\w.-]+", value) and not Path(value).suffix:
        return f"hf:{value}"  # a hub dataset id: open_dataset reads it with the prefix only
    return None


def resolve_runner(runner: str, base_dir: Path, err) -> str:
    """'file.py:Class' with the file resolved relative to the spec's folder (never the current
    folder); 'package.module:Class' kept as given. Nothing is imported here."""
    target, _, cls_name = runner.rpartition(":")
    if not cls_name.isidentifier():
        raise err("runner", f"{runner!r}: {cls_name!r} is not a class name")
    if not target.endswith(".py"):
        if not all(part.isidentifier() for part in target.split(".")):
            raise err("runner", f"{runner!r}: {target!r} is neither a file.py nor a module name")
        return runner
    path = Path(target).expanduser()
    path = (path if path.is_absolute() else base_dir / path).resolve()
    if not path.is_file():
        raise err("runner", f"{runner!r}: {path} does not exist (relative to the spec's folder)")
    return f"{path}:{cls_name}"
