"""The per-item audio record (`profile.item_audio` maps, by digest: store_data) was kept whole for
each distinct map, so a store of a large corpus grew by a whole map for each distinct set of
unreadable files its runs met (10,000 items, 5 sets of 100 unreadable: 0.40 MB a map, 2.0 MB in
all). A map close to one kept whole is now kept as its difference (sweep.store_audio) and read
back as the same map; stores that hold whole maps (all written before) read and resume as
they did."""
from __future__ import annotations

import hashlib
import json
import random
import shutil

import pytest

from speechbudget.sweep.profile import UNREADABLE, audio_digest
from speechbudget.sweep.store import ResultsStore
from speechbudget.sweep.store_guard import StoreError, transaction
from tests.sweep.conftest import ASR_ONE_CONFIG, copied_manifest, register_sweep


def _corpus(n: int, seed: int = 0) -> dict[str, str]:
    rng = random.Random(seed)
    return {f"{rng.randrange(100, 9999)}-{rng.randrange(100000, 999999)}-{i:05d}":
            hashlib.sha256(str(i).encode()).hexdigest()[:16] for i in range(n)}


def _with_unreadable(audio: dict[str, str], bad) -> dict[str, str]:
    return {k: UNREADABLE if k in bad else v for k, v in audio.items()}


def _bytes(db) -> int:
    with ResultsStore(db) as st:
        return st.db.execute("PRAGMA page_count").fetchone()[0] * \
            st.db.execute("PRAGMA page_size").fetchone()[0]


def _save_as_before(db, audio: dict[str, str]) -> str:
    """Keep `audio` as the store did before differences were kept (the map whole)."""
    digest = audio_digest(audio)
    with ResultsStore(db) as st, transaction(st.db):
        st.db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)",
                      (f"item_audio {digest}", json.dumps(audio, sort_keys=True)))
    return digest


def test_maps_of_other_unreadable_sets_add_their_differences_not_the_corpus(tmp_path):
    db = tmp_path / "r.db"
    audio = _corpus(10_000)
    rng = random.Random(1)
    maps = [_with_unreadable(audio, set(rng.sample(sorted(audio), 100))) for _ in range(5)]
    empty = _bytes(db)
    sizes = []
    for m in maps:
        with ResultsStore(db) as st:
            st.save_item_audio(audio_digest(m), m)
        sizes.append(_bytes(db))
    whole = sizes[0] - empty
    assert sizes[-1] - sizes[0] < whole / 2           # four more maps: not four more corpora
    with ResultsStore(db, readonly=True) as st:       # read back as the maps they stand for
        assert [st.item_audio(audio_digest(m)) for m in maps] == maps


def test_a_difference_holds_changed_added_and_dropped_items(tmp_path):
    audio = _corpus(40)
    ids = sorted(audio)
    other = {k: v for k, v in audio.items() if k not in ids[:3]}       # 3 items dropped
    other.update({ids[5]: UNREADABLE, ids[6]: f"{UNREADABLE} (0.5, 2.0)", "new-item": "ab" * 8})
    with ResultsStore(tmp_path / "r.db") as st:
        for m in (audio, other):
            st.save_item_audio(audio_digest(m), m)
        kinds = [k.split()[0] for (k,) in st.db.execute("SELECT key FROM meta WHERE key GLOB "
                                                        "'item_audio*' ORDER BY rowid")]
    assert kinds == ["item_audio", "item_audio_diff"]
    with ResultsStore(tmp_path / "r.db", readonly=True) as st:
        assert st.item_audio(audio_digest(other)) == other
        assert st.item_audio(audio_digest(audio)) == audio


def test_whole_maps_kept_before_read_as_they_are_and_new_maps_build_on_them(tmp_path):
    db = tmp_path / "r.db"
    ResultsStore(db).close()
    audio = _corpus(50)
    ids = sorted(audio)
    old = [_with_unreadable(audio, ids[:2]), _with_unreadable(audio, ids[2:4])]
    digests = [_save_as_before(db, m) for m in old]
    new = _with_unreadable(audio, ids[4:6])
    with ResultsStore(db) as st:
        assert [st.item_audio(d) for d in digests] == old
        st.save_item_audio(audio_digest(new), new)
        row = st.db.execute("SELECT value FROM meta WHERE key = ?",
                            (f"item_audio_diff {audio_digest(new)}",)).fetchone()
    assert json.loads(row[0])["base"] in digests
    with ResultsStore(db, readonly=True) as st:
        assert st.item_audio(audio_digest(new)) == new


@pytest.mark.parametrize("damage", ["no base", "digest", "base unreadable",
                                    "difference unreadable"])
def test_a_difference_that_does_not_make_its_map_is_a_store_error(tmp_path, damage):
    """Named by the row that is damaged: the difference's ('item_audio_diff DIGEST'), or, where
    the base map kept whole cannot be read, the base's ('item_audio BASE'); both were named
    'item_audio DIGEST' of the map asked for, a row the store does not hold."""
    db = tmp_path / "r.db"
    audio = _corpus(20)
    other = _with_unreadable(audio, sorted(audio)[:1])
    base, diff = f"item_audio {audio_digest(audio)}", f"item_audio_diff {audio_digest(other)}"
    with ResultsStore(db) as st:
        for m in (audio, other):
            st.save_item_audio(audio_digest(m), m)
        with transaction(st.db):
            if damage == "no base":
                st.db.execute("DELETE FROM meta WHERE key = ?", (base,))
            elif damage == "digest":
                st.db.execute("UPDATE meta SET value = ? WHERE key = ?",
                              (json.dumps({"base": audio_digest(audio), "drop": [],
                                           "set": {}}), diff))
            else:
                assert st.db.execute("UPDATE meta SET value = '{x' WHERE key = ?",
                                     (base if damage == "base unreadable" else diff,)).rowcount
    key = base if damage == "base unreadable" else diff
    with ResultsStore(db, readonly=True) as st:
        with pytest.raises(StoreError, match=f"r.db: meta row {key}: a stored value cannot be "
                                             "read"):
            st.item_audio(audio_digest(other))


def _as_before(db) -> None:
    """Rewrite the store's audio record as the store kept it before differences: every map
    whole."""
    with ResultsStore(db) as st:
        diffs = [k.split()[1] for (k,) in st.db.execute(
            "SELECT key FROM meta WHERE key GLOB 'item_audio_diff *'")]
        maps = {d: st.item_audio(d) for d in diffs}
        assert maps                                 # (the store holds a difference to rewrite)
        with transaction(st.db):
            st.db.execute("DELETE FROM meta WHERE key GLOB 'item_audio_diff *'")
            st.db.executemany("INSERT INTO meta VALUES (?, ?)",
                              [(f"item_audio {d}", json.dumps(m, sort_keys=True))
                               for d, m in maps.items()])


def test_a_store_of_whole_maps_resumes_and_tells_other_audio_apart(tmp_path,
                                                                   bundled_librispeech):
    m, rows = copied_manifest(bundled_librispeech, tmp_path, 4)
    first, second = (tmp_path / "a" / r["audio"] for r in rows[:2])
    spec, db = {**ASR_ONE_CONFIG, "data": str(m)}, tmp_path / "r.db"
    register_sweep(spec, db, tmp_path)
    saved = first.read_bytes()
    first.unlink()                                  # a run that cannot read it: resumes
    register_sweep(spec, db, tmp_path)
    _as_before(db)
    register_sweep(spec, db, tmp_path)              # still cannot: resumes
    shutil.copy(second, first)                      # other audio under its path: refused
    with pytest.raises(StoreError, match=f"other audio \\(item {rows[0]['id']}\\)"):
        register_sweep(spec, db, tmp_path)
    first.write_bytes(saved)                        # the recording it was computed on
    register_sweep(spec, db, tmp_path)
