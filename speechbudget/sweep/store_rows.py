"""The rows of a results store as Python values and back: an ItemResult as an items row
(`item_row`, `item_from_row`, in ITEM_COLUMNS order), stored metrics as ConfigMetrics, a stored
JSON object (`json_object`)."""
from __future__ import annotations

import json
from dataclasses import fields
from typing import Any, Sequence

from speechbudget.records import ConfigMetrics, ItemResult

ITEM_COLUMNS = ("item_id", "ok", "prediction", "reference", "errors", "n_ref", "decoded_tokens",
                "audio_s", "chunks", "gflops", "timings_json", "error", "extra_json")


def json_object(text: str | None) -> dict[str, Any]:
    """A stored JSON object (empty when NULL); anything else raises ValueError."""
    d = json.loads(text or "{}")
    if not isinstance(d, dict):
        raise ValueError(f"expected a JSON object, got {type(d).__name__}")
    return d


def item_row(r: ItemResult) -> tuple[Any, ...]:
    """An ItemResult as the values of an items row, in ITEM_COLUMNS order."""
    return (r.item_id, int(bool(r.ok)), r.prediction, r.reference, r.errors, r.n_ref,
            r.decoded_tokens, r.audio_s, r.chunks, r.gflops,
            json.dumps(r.timings or {}), r.error, json.dumps(r.extra or {}, default=str))


def item_from_row(row: Sequence[Any]) -> ItemResult:
    """The ItemResult of an items row read in ITEM_COLUMNS order."""
    d = dict(zip(ITEM_COLUMNS, row))
    d["ok"] = bool(d["ok"])
    d["timings"] = json_object(d.pop("timings_json"))
    d["extra"] = json_object(d.pop("extra_json"))
    return ItemResult(**d)


def metrics_from_dict(d: dict[str, Any]) -> ConfigMetrics:
    """The ConfigMetrics of a stored metrics_json (fields it does not know are left out)."""
    known = {f.name for f in fields(ConfigMetrics)}
    return ConfigMetrics(**{k: v for k, v in d.items() if k in known})
