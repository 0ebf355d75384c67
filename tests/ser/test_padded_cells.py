"""A CSV/JSONL manifest whose label or speaker cells carry spaces ('a.wav, ang, A0', or one
row's speaker 'A0 '): the label was 'unknown label \\' ang\\'' (exit 3) although any case is
read, and 'A0 ' was another speaker than 'A0', so one actor's clips could be split between
the training and the held-out folds."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from speechbudget.errors import DatasetError
from speechbudget.tasks.ser.data import check_disjoint, load_dataset, speaker_folds


def _clip(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(4000, np.float32) + 0.01, 16000)


def _rows():
    # speaker 'A0' written 'A0' and 'A0 ', labels with spaces around them
    return [("c/0.wav", " ang", "A0"), ("c/1.wav", "sad ", "A0 "), ("c/2.wav", " HAP ", "B1"),
            ("c/3.wav", "neu", " B1"), ("c/4.wav", "ANG", "C2"), ("c/5.wav", "sad", "C2")]


def test_a_csv_with_padded_cells_reads_labels_and_speakers(tmp_path):
    lines = ["clip,feeling,actor"]
    for audio, label, spk in _rows():
        _clip(tmp_path / audio)
        lines.append(f"{audio},{label},{spk}")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    from speechbudget.datasets import Columns
    ds = load_dataset(tmp_path / "m.csv", Columns(audio="clip", label="feeling", speaker="actor"))
    assert [c.label for c in ds.items] == ["ANG", "SAD", "HAP", "NEU", "ANG", "SAD"]
    assert ds.speakers == ["A0", "B1", "C2"]
    folds = speaker_folds(ds, 3)
    check_disjoint(ds, **{f"f{i}": f for i, f in enumerate(folds)})


def test_a_jsonl_manifest_with_padded_cells_reads_labels_and_speakers(tmp_path):
    rows = []
    for audio, label, spk in _rows():
        _clip(tmp_path / audio)
        rows.append({"audio": audio, "label": label, "speaker": spk})
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = load_dataset(tmp_path / "m.jsonl")
    assert [c.label for c in ds.items] == ["ANG", "SAD", "HAP", "NEU", "ANG", "SAD"]
    assert ds.speakers == ["A0", "B1", "C2"]


def test_a_csv_speaker_of_spaces_only_is_no_speaker(tmp_path):
    _clip(tmp_path / "c/0.wav")
    _clip(tmp_path / "c/1.wav")
    (tmp_path / "m.csv").write_text("audio,label,speaker\nc/0.wav,ANG,A\nc/1.wav,SAD,  \n")
    with pytest.raises(DatasetError, match="no speaker"):
        load_dataset(tmp_path / "m.csv")
