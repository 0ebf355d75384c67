"""An unreadable recording is no difference from the stored audio record for items cut from it
(Kaldi `segments`) either. `item_audio` writes such an item as 'unreadable (start, end)', which
`store_data` did not take for unreadable: a run that could not read one recording of a Kaldi
dir with segments was refused as 'other audio (item ...)' (39b75ca says unreadable-then-readable
files are no difference, and a missing file of a plain manifest resumes), and other audio put
under that path later was not told apart from the stored record by the unreadable item."""
from __future__ import annotations

import shutil

import pytest

from speechbudget.sweep.store_guard import StoreError
from tests.sweep.conftest import ASR_ONE_CONFIG, register_sweep, shortest_rows

ASR = ASR_ONE_CONFIG


@pytest.fixture
def kaldi_dir(tmp_path, bundled_librispeech):
    """A Kaldi dir of two recordings, one segment (0.5 s to 2 s) of each."""
    rows = shortest_rows(bundled_librispeech)
    d = tmp_path / "kaldi"
    d.mkdir()
    wavs = []
    for i, r in enumerate(rows):
        wav = tmp_path / f"rec{i}{(bundled_librispeech / r['audio']).suffix}"
        shutil.copy(bundled_librispeech / r["audio"], wav)
        wavs.append(wav)
    (d / "wav.scp").write_text("".join(f"rec{i} {w}\n" for i, w in enumerate(wavs)))
    (d / "segments").write_text("".join(f"utt{i} rec{i} 0.5 2.0\n" for i in range(2)))
    (d / "text").write_text("".join(f"utt{i} {r['text']}\n" for i, r in enumerate(rows)))
    return d, wavs


def _register(tmp_path, data, db):
    register_sweep({**ASR, "data": str(data)}, db, tmp_path)


def test_an_unreadable_recording_of_a_segmented_item_resumes(tmp_path, kaldi_dir):
    d, (first, second) = kaldi_dir
    db = tmp_path / "r.db"
    _register(tmp_path, d, db)
    saved = first.read_bytes()
    first.unlink()                          # a run that cannot read it: resumes
    _register(tmp_path, d, db)
    shutil.copy(second, first)              # other audio under its path: refused
    with pytest.raises(StoreError, match="other audio \\(item utt0\\)"):
        _register(tmp_path, d, db)
    first.write_bytes(saved)                # the recording the results were computed on
    _register(tmp_path, d, db)
