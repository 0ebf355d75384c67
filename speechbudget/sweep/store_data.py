"""Which data a configuration's stored results were computed on, and whether a run may resume
them. The store records, with each configuration, the ids of the items (`dataset`) and digests
of what each item's result depends on (`data_content`: its audio, its reference or label,
SER's speakers; `profile.content_digests`), never the column names or audio_root that said
where to read them: the same items read from a manifest with renamed columns, or from a corpus
moved to another folder, resume; other audio or other references are refused with one line
naming the `data:` key that chooses them.

Audio is compared item by item (the per-item map is kept in the store: `save_item_audio`): an
item whose file could not be read in one run and can in another (a wrong audio_root fixed, a
missing file restored) is not a difference, since its stored result is a failed item that
`--retry-failed` runs again. The record says what each stored result was computed on: such an
item keeps 'unreadable' there while its stored failure is kept, so other audio under its path
later is no difference either; its audio is recorded in the transaction that stores a result
computed on it (`record_stored_audio`), not when a run that may compute it starts (a racing
round may never reach its shard, a run may be killed before it). A store written before
data_content existed (its contexts may hold the column names instead, `data_options`) is taken
as it is and given the new record."""
from __future__ import annotations

import json
from typing import Any, Callable, Sequence

from speechbudget.axes import Config
from speechbudget.sweep.profile import CONTENT_FIELDS, UNREADABLE, audio_digest, is_unreadable
from speechbudget.sweep.store_audio import keep_audio_map
from speechbudget.sweep.store_guard import StoreError


def check_data(store: Any, config: Config, context: dict[str, Any],
               audio: dict[str, str]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The context to register `config` with and the context keys `store.register_config` may
    take over (see the module doc); StoreError when the stored results are of other data
    content. Where this run cannot read an item's audio that the stored record knows, the
    context keeps the record's (`merged_audio`): an unreadable file never erases what the
    stored results were computed on, so other audio there later is still told apart. An item
    stored as failed where the record says its file could not be read keeps that in the record,
    though this run reads it (its stored result was computed on no audio), until a result
    computed on its audio is stored (`record_stored_audio`). A runner runs it inside
    `register_config`'s write transaction (its `audio`), so what it reads is what is replaced:
    another runner's record is never overwritten by one merged from an older read."""
    old = store.config_context(config.key)
    if old is None:
        return context, ()
    if old.get("dataset") != context.get("dataset"):  # other item ids: register_config says so
        return context, ()
    before, now = old.get("data_content"), context.get("data_content")
    if before is None:  # written before data_content: the columns it may hold are not compared
        return context, ("data_content", "data_options")
    if before == now:
        return context, ()
    now = now or {}
    for part in sorted(set(before) | set(now), key=lambda p: p != "audio"):
        if before.get(part) == now.get(part):
            continue
        item = None
        if part == "audio":
            stored = store.item_audio(before[part]) if before.get(part) else None
            item = _first_other_item(stored, audio)
            if item is None:  # the same audio wherever both runs could read it
                kept = set().union(*store.failed_items(config.key).values())
                merged = merged_audio(stored, audio, kept)
                digest = audio_digest(merged)
                if digest != now.get("audio"):
                    store.save_item_audio(digest, merged)
                    context = {**context, "data_content": {**now, "audio": digest}}
                continue
        field = CONTENT_FIELDS.get(part, "data")
        what = {"audio": "other audio", "references": "other reference transcripts",
                "labels": "other labels", "speakers": "other speakers"}.get(part, f"other {part}")
        raise StoreError(f"{store.path}: configuration {config.label} ({config.key}) is stored "
                         f"with results of {what}{f' (item {item})' if item else ''} than "
                         f"{field} give now; use another store for this sweep")
    return context, ("data_content",)


def record_stored_audio(store: Any, db: Any, key: str, item_ids: Sequence[str],
                        audio: dict[str, str] | None, digest: Callable[[str], str]) -> None:
    """In the write transaction `db` that stores results of configuration `key`'s `item_ids`
    computed in this run (`audio`: its per-item audio map; None: nothing recorded), the record
    takes this run's audio for each of them it could read where the record says its file could
    not be read ('unreadable' kept by `check_data` for a stored failure): the result now stored
    is computed on that audio. digest: the store's rule for a context's digest."""
    context = store.config_context(key) if audio is not None else None
    record = (context or {}).get("data_content") or {}
    stored = store.item_audio(record["audio"]) if record.get("audio") else None
    if not stored:
        return
    new = {i: audio[i] for i in item_ids if not is_unreadable(audio.get(i, UNREADABLE))
           and is_unreadable(stored.get(i, UNREADABLE))}
    if not new:
        return
    merged = {**stored, **new}
    keep_audio_map(db, audio_digest(merged), merged, store.item_audio)
    text = json.dumps({**context, "data_content": {**record, "audio": audio_digest(merged)}},
                      sort_keys=True, default=str)
    db.execute("UPDATE configs SET context_json = ?, context_digest = ? WHERE key = ?",
               (text, digest(text), key))


def merged_audio(stored: dict[str, str], audio: dict[str, str],
                 failed: set[str] = frozenset()) -> dict[str, str]:
    """This run's per-item audio map, with the stored map's digest for each item this run
    cannot read (`profile.UNREADABLE`, with its cut where it has one: `is_unreadable`) where the
    stored map knows it, and the stored map's 'unreadable' for each item of `failed` (stored
    failures this run keeps) that this run can read."""
    return {iid: stored.get(iid, v) if is_unreadable(v) or
            (iid in failed and is_unreadable(stored.get(iid))) else v
            for iid, v in audio.items()}


def _first_other_item(stored: dict[str, str] | None, audio: dict[str, str]) -> str | None:
    """The first item whose audio differs from the stored map's where both could be read; ''
    when the stored map is not known (then the audio cannot be told the same); None when the
    audio is the same wherever both runs read it."""
    if stored is None:
        return ""
    for iid in sorted(set(stored) | set(audio)):
        a, b = stored.get(iid), audio.get(iid)
        if a != b and not is_unreadable(a) and not is_unreadable(b):
            return iid
    return None


def context_difference(old: dict[str, Any], new: dict[str, Any], diff: list[str]) -> str:
    """What differs between a configuration's stored context and this run's (the keys `diff`),
    in the spec's words with both values: 'dataset (6 items stored, 4 now: the items that
    data and task_options.max_items select) and task_options.max_items (stored 6, now 4)'.
    data_content is left out where the items differ (it follows from them)."""
    parts = []
    if "dataset" in diff or "n_items" in diff:
        was, now = old.get("n_items"), new.get("n_items")
        count = f"other item ids than the {was} stored" if was == now else \
            f"{was} items stored, {now} now"
        parts.append(f"dataset ({count}: the items that data and task_options.max_items "
                     "select)")
    if "task_options" in diff:
        a, b = old.get("task_options") or {}, new.get("task_options") or {}
        if isinstance(a, dict) and isinstance(b, dict):
            parts += [f"task_options.{k} (stored {_shown(a, k)}, now {_shown(b, k)})"
                      for k in sorted(set(a) | set(b), key=str) if a.get(k) != b.get(k)]
        else:
            parts.append("task_options")
    for key in ("task", "runner"):
        if key in diff:
            parts.append(f"{key} (stored {_shown(old, key)}, now {_shown(new, key)})")
    skip = {"dataset", "n_items", "task_options", "task", "runner"}
    if "dataset" in diff:
        skip.add("data_content")
    parts += [k for k in diff if k not in skip]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _shown(d: dict[str, Any], key: str) -> str:
    """A stored value as the message shows it: 'absent', a JSON value (strings unquoted)."""
    if key not in d:
        return "absent"
    v = d[key]
    return v if isinstance(v, str) else json.dumps(v, default=str)
