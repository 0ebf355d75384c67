"""LibriSpeech in its original layout (<split>/<speaker>/<chapter>/<spk>-<ch>.trans.txt + .flac):
an audio file without a transcript line was dropped silently, and a folder holding several
splits was read as one dataset (dev and test mixed)."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from speechbudget.datasets import DatasetError, open_dataset
from speechbudget.geometry import SAMPLE_RATE


def _chapter(split_dir, lines, audio_ids, spk="19", ch="198"):
    d = split_dir / spk / ch
    d.mkdir(parents=True)
    for utt in audio_ids:
        sf.write(d / f"{utt}.flac", np.full(1600, 0.1, np.float32), SAMPLE_RATE)
    (d / f"{spk}-{ch}.trans.txt").write_text("".join(f"{x}\n" for x in lines))
    return d


def test_audio_without_a_transcript_line_is_an_item_with_a_problem(tmp_path):
    d = _chapter(tmp_path / "dev-clean", ["19-198-0001 HELLO", "19-198-0002 NO AUDIO"],
                 ["19-198-0001", "19-198-0003"])
    ds = open_dataset(tmp_path / "dev-clean")
    by_id = {r.id: r for r in ds.records}
    assert sorted(by_id) == ["19-198-0001", "19-198-0002", "19-198-0003"]
    assert by_id["19-198-0001"].problem is None and by_id["19-198-0001"].text == "HELLO"
    # a transcript line without audio: an item whose audio read names the missing file
    assert by_id["19-198-0002"].path == d / "19-198-0002.flac"
    assert by_id["19-198-0003"].problem == (f"{d / '19-198-0003.flac'}: no transcript line for "
                                            f"19-198-0003 (looked in {d / '19-198.trans.txt'})")
    # without transcripts needed (label-free adaptation) the audio is usable as it is
    free = {r.id: r for r in open_dataset(tmp_path / "dev-clean", need=()).records}
    assert free["19-198-0003"].problem is None and free["19-198-0003"].text == ""


def test_a_folder_of_several_splits_is_refused_naming_them(tmp_path):
    root = tmp_path / "LibriSpeech"
    _chapter(root / "dev-clean", ["19-198-0001 A"], ["19-198-0001"])
    _chapter(root / "test-clean", ["61-70968-0000 B"], ["61-70968-0000"], "61", "70968")
    with pytest.raises(DatasetError, match=r"LibriSpeech: holds 2 LibriSpeech splits "
                                           r"\(dev-clean, test-clean\); open one of them"):
        open_dataset(root)
    # one split, opened at the split, above it, or at a speaker folder
    for f in (root / "test-clean", root / "test-clean" / "61"):
        assert [r.id for r in open_dataset(f).records] == ["61-70968-0000"]
    (root / "dev-clean").rename(tmp_path / "dev-clean")
    assert [r.id for r in open_dataset(root).records] == ["61-70968-0000"]


def test_an_utterance_on_two_transcript_lines_names_both(tmp_path):
    d = _chapter(tmp_path / "s", ["19-198-0001 A", "19-198-0001 B"], ["19-198-0001"])
    with pytest.raises(DatasetError, match=rf"{d / '19-198.trans.txt'}:2.*also on .*:1"):
        open_dataset(tmp_path / "s")
