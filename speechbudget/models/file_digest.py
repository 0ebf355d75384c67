"""SHA-256 of source files, remembered by where they are: what keys the converted-model cache by
the weights' content rather than their path.

    index = DigestIndex(cache_folder / "digests.json")
    size, sha = index.digest(path)     # hashed once; later read back while the file is unchanged
    index.save()                        # only when something was hashed; never raises

An entry is (resolved path, size, mtime_ns, ctime_ns, inode) -> SHA-256. It is used only while all
of these still match the file, so a file rewritten in place (a new mtime), replaced by another
(a new inode, a new ctime: `cp -p` and `tar` can restore mtime, not ctime) or of another size is
hashed again. A file changed less than SETTLE_NS before it was hashed is not recorded (hashed
again next time): a later write within the same timestamp tick (a few ms on Linux, 2 s on FAT)
would leave its stamp as it was, as git's index treats "racily clean" entries. The index is an
optimisation: a missing, unreadable or damaged one is rebuilt; one that cannot be written (a
read-only cache) only means hashing again next time. Entries of files that no longer exist are
dropped when it is written. Not seen: a change that leaves every timestamp as it was (a disk's
own bit rot, a write to the raw device), which only hashing every time would find.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

INDEX_VERSION = 1
# a file changed this recently when hashed is not recorded: its stamp may not yet show a write
SETTLE_NS = 2_000_000_000


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def stamp(st: os.stat_result) -> list[int]:
    """What says a file is unchanged: size, mtime_ns, ctime_ns, inode (see the module doc)."""
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def settled(st: os.stat_result) -> bool:
    """Whether the file `st` describes last changed at least SETTLE_NS ago: a digest read from it
    now may be remembered by its stamp (see the module doc: racily clean entries)."""
    return time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) >= SETTLE_NS


class DigestIndex:
    """Path -> SHA-256 of files, kept in a JSON file (see the module docstring)."""

    def __init__(self, path: Path | None):
        self.path = path
        self.entries: dict[str, dict] = {}
        self.changed = False
        if path is None:
            return
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return
        if isinstance(data, dict) and data.get("version") == INDEX_VERSION \
                and isinstance(data.get("files"), dict):
            self.entries = {k: v for k, v in data["files"].items() if isinstance(v, dict)}

    def digest(self, path: Path) -> tuple[int, str]:
        """(size, SHA-256) of the file at `path`: from the index while the file's size, mtime,
        ctime and inode are those recorded, else hashed (and recorded unless it changed less
        than SETTLE_NS before)."""
        p = Path(path).resolve()
        before = p.stat()
        entry = self.entries.get(str(p))
        sha = entry.get("sha256") if entry else None
        if entry and entry.get("stamp") == stamp(before) and isinstance(sha, str) \
                and len(sha) == 64:
            return before.st_size, sha
        sha = sha256_file(p)
        if settled(before) and stamp(p.stat()) == stamp(before):  # not changed while read
            self.entries[str(p)] = {"stamp": stamp(before), "sha256": sha}
            self.changed = True
        return before.st_size, sha

    def save(self) -> None:
        """Write the index when something was hashed (atomically: a temporary file renamed over
        it), without the entries of files that are gone. Nothing is raised: an index that cannot
        be written only costs hashing again."""
        if self.path is None or not self.changed:
            return
        live = {k: v for k, v in self.entries.items() if Path(k).exists()}
        folder = Path(self.path).parent
        try:
            fd, tmp = tempfile.mkstemp(prefix=".digests-", suffix=".tmp", dir=folder)
        except OSError:
            return
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"version": INDEX_VERSION, "files": live}, f, indent=1)
            os.replace(tmp, self.path)
            self.changed = False
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
