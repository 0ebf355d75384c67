"""What identifies a sweep's data in its store. The manifest's column names were stored with
each configuration (so the same items read from a manifest whose columns were renamed were
refused: 'stored with a different data_options') and audio_root was not stored at all (so an
audio_root naming other recordings under the same relative paths resumed into a mix of results
of both). The store now records what the items are - their ids, each one's audio bytes, their
references - and not where they were read from (sweep.store_data): renamed columns and a moved
corpus resume; other audio or other references are refused with one line naming the data key."""
from __future__ import annotations

import json
import shutil

import pytest

from speechbudget.sweep.store import ResultsStore
from speechbudget.sweep.store_guard import StoreError
from tests.sweep.conftest import ASR_ONE_CONFIG, copy_shortest, register_sweep

ASR = ASR_ONE_CONFIG


@pytest.fixture
def corpus(tmp_path, bundled_librispeech):
    """Two short bundled utterances copied under tmp/a (relative paths), and their rows."""
    rows = copy_shortest(bundled_librispeech, tmp_path / "a")
    return rows


def _csv(folder, rows, name, audio="recording", text="reference", lower=False):
    lines = [f"{audio},{text}"] + [
        f'{r["audio"]},"{r["text"].lower() if lower else r["text"]}"' for r in rows]
    (folder / name).write_text("\n".join(lines) + "\n")
    return str(folder / name)


def _register(tmp_path, data, db):
    register_sweep({**ASR, "data": data}, db, tmp_path)


def test_renamed_columns_and_a_moved_corpus_resume(tmp_path, corpus):
    db = tmp_path / "r.db"
    _register(tmp_path, {"path": _csv(tmp_path, corpus, "m.csv"), "audio_column": "recording",
                         "text_column": "reference", "audio_root": str(tmp_path / "a")}, db)
    shutil.copytree(tmp_path / "a", tmp_path / "moved")
    _register(tmp_path, {"path": _csv(tmp_path, corpus, "n.csv", "wav", "sentence"),
                         "audio_column": "wav", "text_column": "sentence",
                         "audio_root": str(tmp_path / "moved")}, db)


def test_other_audio_under_the_same_paths_is_refused_naming_the_item(tmp_path, corpus):
    db = tmp_path / "r.db"
    m = _csv(tmp_path, corpus, "m.csv")
    _register(tmp_path, {"path": m, "audio_column": "recording", "text_column": "reference",
                         "audio_root": str(tmp_path / "a")}, db)
    # another recording under the first item's relative path (a noisy copy of the corpus, say)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    a, b = corpus[0]["audio"], corpus[1]["audio"]
    shutil.copy(tmp_path / "a" / b, tmp_path / "b" / a)
    with pytest.raises(StoreError) as e:
        _register(tmp_path, {"path": m, "audio_column": "recording",
                             "text_column": "reference", "audio_root": str(tmp_path / "b")}, db)
    msg = str(e.value)
    assert "\n" not in msg and "other audio" in msg and f"(item {a})" in msg
    assert "data.audio_column or data.audio_root" in msg


def test_other_references_are_refused_naming_the_text_column(tmp_path, corpus):
    db = tmp_path / "r.db"
    root = str(tmp_path / "a")
    _register(tmp_path, {"path": _csv(tmp_path, corpus, "m.csv"), "audio_column": "recording",
                         "text_column": "reference", "audio_root": root}, db)
    with pytest.raises(StoreError, match=r"other reference transcripts than data.text_column"):
        _register(tmp_path, {"path": _csv(tmp_path, corpus, "n.csv", lower=True),
                             "audio_column": "recording", "text_column": "reference",
                             "audio_root": root}, db)


def test_a_file_unreadable_in_one_run_is_not_other_audio(tmp_path, corpus):
    """A wrong audio_root (every file missing: every item a failed result) fixed on resume is
    not refused: --retry-failed runs those items again."""
    db = tmp_path / "r.db"
    m = _csv(tmp_path, corpus, "m.csv")
    (tmp_path / "empty").mkdir()
    _register(tmp_path, {"path": m, "audio_column": "recording", "text_column": "reference",
                         "audio_root": str(tmp_path / "empty")}, db)
    _register(tmp_path, {"path": m, "audio_column": "recording", "text_column": "reference",
                         "audio_root": str(tmp_path / "a")}, db)


def test_a_store_from_before_data_content_resumes_and_gets_it(tmp_path, corpus):
    """A configuration stored with the column names (data_options) and no data_content (before
    this change) resumes under other column names, and is given the content record."""
    db = tmp_path / "r.db"
    root = str(tmp_path / "a")
    _register(tmp_path, {"path": _csv(tmp_path, corpus, "m.csv"), "audio_column": "recording",
                         "text_column": "reference", "audio_root": root}, db)
    with ResultsStore(db) as st:
        (key,) = [r["key"] for r in st.configs()]
        ctx = st.config_context(key)
        old = {k: v for k, v in ctx.items() if k != "data_content"}
        old["data_options"] = {"audio_column": "recording", "text_column": "reference"}
        st.db.execute("UPDATE configs SET context_json = ?, context_digest = 'old' WHERE key = ?",
                      (json.dumps(old, sort_keys=True), key))
    _register(tmp_path, {"path": _csv(tmp_path, corpus, "n.csv", "wav", "sentence"),
                         "audio_column": "wav", "text_column": "sentence", "audio_root": root}, db)
    with ResultsStore(db, readonly=True) as st:
        assert st.config_context(key) == ctx
