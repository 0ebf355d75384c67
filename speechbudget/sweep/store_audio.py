"""The per-item audio records of a results store (`profile.item_audio` maps, by the digest a
configuration's data_content names: `store_data`), kept in its meta table.

A map was kept whole ('item_audio DIGEST': the map as JSON), so a store of a large corpus grew
by a whole map (~40 bytes an item) for each distinct set of unreadable files its runs met. A map
that differs from one kept whole in under half of its items is now kept as that difference
('item_audio_diff DIGEST': {"base": the whole map's digest, "set": {item: value that differs or
is new}, "drop": [items the base has and it has not]}), and read back as the whole map it stands
for, checked against its digest. Maps kept whole (by any version) are read as they are; what a
resume compares is the same map either way (a store that holds a difference is compared as
'audio not known' by code written before it: refused, never mixed)."""
from __future__ import annotations

import json
from typing import Any, Callable

from speechbudget.sweep.profile import audio_digest
from speechbudget.sweep.store_guard import StoreError

WHOLE = "item_audio "
DIFF = "item_audio_diff "
#: how many of the latest maps kept whole a new map is compared with, to choose its base
BASES = 4

Decode = Callable[[str], dict[str, Any]]
#: read(key, fn): fn(), which reads meta row `key`; a value it cannot read (ValueError,
#: TypeError) raised as the store's error naming that row
Read = Callable[[str, Callable[[], Any]], Any]


def load_audio_map(db: Any, digest: str, decode: Decode, read: Read,
                   known: dict[str, dict[str, str]]) -> dict[str, str] | None:
    """The map kept under `digest`, or None; `known`: maps already read, by digest (read and
    added to). decode: a stored JSON object's text -> dict. A row that cannot be read, or a
    difference that does not make the map it names, is the error `read` raises naming that
    row (the damaged base map's own row where that is what cannot be read)."""
    if digest in known:
        return known[digest]
    whole = _whole(db, digest, decode, read, known)
    if whole is not None:
        return whole
    key = DIFF + digest
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    if row is None:
        return None
    base, changed, drop = read(key, lambda: _difference(decode(row[0])))
    whole = _whole(db, base, decode, read, known)
    audio = read(key, lambda: _applied(whole, base, changed, drop, digest))
    known[digest] = audio
    return audio


def _difference(diff: dict[str, Any]) -> tuple[str, dict[str, Any], list[Any]]:
    base, changed, drop = diff.get("base"), diff.get("set"), diff.get("drop")
    if not (isinstance(base, str) and isinstance(changed, dict) and isinstance(drop, list)):
        raise ValueError("not a difference from a kept map (base, set, drop)")
    return base, changed, drop


def _applied(whole: dict[str, str] | None, base: str, changed: dict[str, Any], drop: list[Any],
             digest: str) -> dict[str, str]:
    """The map the difference (changed, drop) from the map `whole` kept under `base` makes;
    ValueError when `whole` is not kept or the map has not `digest`."""
    if whole is None:
        raise ValueError(f"its base map {base} is not kept whole")
    audio = {**whole, **changed}
    for iid in drop:
        audio.pop(iid, None)
    if audio_digest(audio) != digest:
        raise ValueError("the map it makes does not have its digest")
    return audio


def _whole(db: Any, digest: str, decode: Decode, read: Read,
           known: dict[str, dict[str, str]]) -> dict[str, str] | None:
    """The map kept whole under `digest`, or None."""
    if digest not in known:
        key = WHOLE + digest
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        known[digest] = read(key, lambda: decode(row[0]))
    return known[digest]


def audio_map_row(db: Any, digest: str, audio: dict[str, str],
                  load: Callable[[str], dict[str, str] | None]) -> tuple[str, str]:
    """The meta row (key, value) that keeps `audio` under `digest`: its difference from the
    closest of the latest `BASES` maps kept whole where that is under half of its items, else
    the map whole (also where `digest` is not the map's `audio_digest`: a difference is checked
    against it when read). load: digest -> a kept map (one that cannot be read is no base)."""
    if digest != audio_digest(audio):
        return WHOLE + digest, json.dumps(audio, sort_keys=True)
    best: tuple[int, str, dict[str, str], list[str]] | None = None
    for (key,) in db.execute("SELECT key FROM meta WHERE key GLOB ? ORDER BY rowid DESC LIMIT ?",
                             (WHOLE + "*", BASES)).fetchall():
        base = key[len(WHOLE):]
        try:
            whole = load(base)
        except StoreError:
            continue
        if whole is None or base == digest:
            continue
        changed = {k: v for k, v in audio.items() if whole.get(k) != v}
        drop = sorted(k for k in whole if k not in audio)
        size = len(changed) + len(drop)
        if best is None or size < best[0]:
            best = (size, base, changed, drop)
    if best is None or 2 * best[0] >= len(audio):
        return WHOLE + digest, json.dumps(audio, sort_keys=True)
    _, base, changed, drop = best
    return DIFF + digest, json.dumps({"base": base, "drop": drop, "set": changed},
                                     sort_keys=True)


def audio_map_kept(db: Any, digest: str) -> bool:
    """Whether a map is kept under `digest` (whole or as a difference)."""
    return db.execute("SELECT 1 FROM meta WHERE key IN (?, ?)",
                      (WHOLE + digest, DIFF + digest)).fetchone() is not None


def keep_audio_map(db: Any, digest: str, audio: dict[str, str],
                   load: Callable[[str], dict[str, str] | None]) -> None:
    """Keep `audio` under `digest` in the write transaction `db` (`audio_map_row`; load as
    there), unless a map is kept under it already."""
    if not audio_map_kept(db, digest):
        db.execute("INSERT INTO meta VALUES (?, ?)", audio_map_row(db, digest, audio, load))
