"""Writing a benchmark's results: <out>.json (the numbers) and <out>.md (the table), side by side.

`out` is the path without a suffix; a name with dots in it (a model called `tiny.en`) keeps them
(`Path.with_suffix` would cut at the last dot). Shared by the scripts in benchmarks/.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence


def write_results(out: str | Path, result: dict[str, Any], md_lines: Sequence[str]) -> str:
    """Write `result` to <out>.json and the Markdown lines to <out>.md; returns the Markdown."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.parent.joinpath(out.name + ".json").write_text(json.dumps(result, indent=1, default=str))
    text = "\n".join(md_lines) + "\n"
    out.parent.joinpath(out.name + ".md").write_text(text)
    return text
