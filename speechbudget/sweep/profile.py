"""What a sweep needs to know about its dataset, computed in one place: the item ids, how many,
their mean duration (for FLOPs estimates) and a digest of the ids (recorded with each
configuration so that results of different datasets are never mixed)."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

from speechbudget.models.file_digest import settled, sha256_file, stamp


@dataclass(frozen=True)
class DatasetProfile:
    ids: tuple[str, ...]
    mean_audio_s: float | None      # None when any item has no known duration

    @property
    def n_items(self) -> int:
        return len(self.ids)

    @property
    def digest(self) -> str:
        return hashlib.sha1("\n".join(sorted(self.ids)).encode()).hexdigest()[:16]


def profile_dataset(dataset: Any) -> DatasetProfile:
    """The profile of a task's dataset (anything with `.items`, each with an `id` and a
    `duration_s` or `audio_s`)."""
    items = list(getattr(dataset, "items", []) or [])
    ids = tuple(str(getattr(i, "id", i)) for i in items)
    durations = [getattr(i, "duration_s", None) or getattr(i, "audio_s", None) for i in items]
    mean = sum(durations) / len(durations) if durations and all(durations) else None
    return DatasetProfile(ids, mean)


#: what a configuration's results depend on besides the item ids (`content_digests`), with the
#: `data:` keys that choose it: named in the store's refusal when it differs
CONTENT_FIELDS = {"audio": "data.audio_column or data.audio_root",
                  "references": "data.text_column", "labels": "data.label_column",
                  "speakers": "data.speaker_column"}


#: `item_audio`'s value for an item whose file cannot be read (with its cut after it, where the
#: item is a cut of the file: 'unreadable (0.5, 2.0)'; `is_unreadable`)
UNREADABLE = "unreadable"


def is_unreadable(value: str | None) -> bool:
    """Whether an `item_audio` value says the item's file could not be read (cut or not)."""
    return value is not None and (value == UNREADABLE or value.startswith(UNREADABLE + " ("))


def item_audio(dataset: Any, known: dict[str, tuple[str, str]] | None = None,
               learned: dict[str, tuple[str, str]] | None = None) -> dict[str, str]:
    """Item id -> what its audio is: the SHA-256 of its file's bytes (16 hex digits) (with the cut of it, where it
    has one), 'unreadable' where the file cannot be read (the task reports that item as failed),
    a row of an in-memory dataset by its index. {} for items without audio (a custom task's).
    known / learned: digests remembered by file (`file_digest`), read and added to."""
    out: dict[str, str] = {}
    for item in getattr(dataset, "items", []) or []:
        if not (hasattr(item, "audio") or hasattr(item, "path")):
            continue
        audio = getattr(item, "audio", None) if hasattr(item, "audio") else item.path
        what = file_digest(audio, known, learned) if audio is not None else \
            f"row {getattr(item, 'index', '')}"
        cut = (getattr(item, "start_s", None), getattr(item, "end_s", None))
        out[str(getattr(item, "id", item))] = what if cut == (None, None) else f"{what} {cut}"
    return out


def content_digests(dataset: Any, audio: dict[str, str], speakers: bool = False
                    ) -> dict[str, str]:
    """Digests of what each item's result depends on, besides its id: its audio (`audio`:
    `item_audio`'s), its reference transcript (`text`) or label (`label`), and with `speakers`
    (a task whose shards group items by speaker: SER's folds) its speaker. Only what the items
    have is included ({} for a custom task's items that have none of it). Column names and
    audio_root are not: they say where the data comes from, and the same items read from
    elsewhere give the same digests."""
    items = sorted(getattr(dataset, "items", []) or [], key=lambda i: str(getattr(i, "id", i)))
    parts: dict[str, list[str]] = {}
    for item in items:
        iid = str(getattr(item, "id", item))
        for name, attr in (("references", "text"), ("labels", "label")) + \
                ((("speakers", "speaker"),) if speakers else ()):
            if hasattr(item, attr):
                parts.setdefault(name, []).append(f"{iid}\t{getattr(item, attr)}")
    out = {k: hashlib.sha1("\n".join(v).encode()).hexdigest()[:16]
           for k, v in sorted(parts.items())}
    if audio:
        out["audio"] = audio_digest(audio)
    return dict(sorted(out.items()))


def audio_digest(audio: dict[str, str]) -> str:
    """The digest of a per-item audio map (`item_audio`): data_content's "audio"."""
    text = "\n".join(f"{k}\t{v}" for k, v in sorted(audio.items()))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def file_digest(path: Any, known: dict[str, tuple[str, str]] | None = None,
                learned: dict[str, tuple[str, str]] | None = None) -> str:
    """The SHA-256 (its first 16 hex digits) of a file's bytes, or 'unreadable'. known: absolute
    path -> (signature, digest) remembered from an earlier read: used, without reading the file,
    while its signature (device and `models.file_digest.stamp`: size, mtime, ctime, inode) is the
    same. Any write to the file, or replacing it, changes its status-change time, which no one
    can set back; a file changed less than `models.file_digest.SETTLE_NS` before it is read, or
    while it is read, is not remembered (the converted-model cache's rule, `DigestIndex`).
    learned: gets (signature, digest) of each file read here that may be remembered."""
    try:
        before = os.stat(path)
        key = os.path.abspath(path)
    except (OSError, TypeError, ValueError):
        return UNREADABLE
    sig = ":".join(str(v) for v in [before.st_dev, *stamp(before)])
    if known is not None and key in known and known[key][0] == sig:
        return known[key][1]
    try:
        digest = sha256_file(path)[:16]
        unchanged = stamp(os.stat(path)) == stamp(before)
    except (OSError, TypeError):
        return UNREADABLE
    if learned is not None and unchanged and settled(before):
        learned[key] = (sig, digest)
    return digest
