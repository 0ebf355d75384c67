"""SER data other than RAVDESS, as a user brings it: CREMA-D in its original layout (AudioWAV/
beside AudioMP3/ and others), and a manifest of another dataset, whose labels must be written as
the six codes (the unknown-label error says so)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from speechbudget.errors import DatasetError
from speechbudget.geometry import SAMPLE_RATE
from speechbudget.tasks.ser.data import load_dataset
from speechbudget.tasks.ser.features import read_clips


def test_cremad_original_layout_with_an_empty_and_an_odd_file(tmp_path):
    root = tmp_path / "CREMA-D"
    (root / "AudioMP3").mkdir(parents=True)
    (root / "AudioMP3" / "1001_DFA_ANG_XX.mp3").write_bytes(b"not read")
    wav = root / "AudioWAV"
    wav.mkdir()
    for name, n in (("1001_DFA_ANG_XX", SAMPLE_RATE), ("1002_IEO_HAP_HI", SAMPLE_RATE),
                    ("1003_TIE_SAD_LO", 0)):
        sf.write(wav / f"{name}.wav", np.full(n, 0.1, np.float32), SAMPLE_RATE)
    sf.write(wav / "notes.wav", np.zeros(10, np.float32), SAMPLE_RATE)
    ds = load_dataset(root)
    assert [(c.id, c.label, c.speaker) for c in ds.items] == [
        ("cremad_1001_DFA_ANG_XX", "ANG", "1001"), ("cremad_1002_IEO_HAP_HI", "HAP", "1002"),
        ("cremad_1003_TIE_SAD_LO", "SAD", "1003")]
    assert ds.skipped == [(str(wav / "notes.wav"),
                           "name is not CREMA-D actor_sentence_emotion_level")]
    audio, skipped = read_clips(ds.items)
    assert sorted(audio) == ["cremad_1001_DFA_ANG_XX", "cremad_1002_IEO_HAP_HI"]
    assert skipped == [("cremad_1003_TIE_SAD_LO",
                        f"{wav / '1003_TIE_SAD_LO.wav'}: the recording is empty (0 samples at "
                        "16 kHz); an emotion cannot be classified without audio")]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_another_dataset_s_label_names_are_told_how_to_write_them(tmp_path, suffix):
    sf.write(tmp_path / "a.wav", np.full(SAMPLE_RATE, 0.1, np.float32), SAMPLE_RATE)
    m = tmp_path / f"m{suffix}"
    if suffix == ".jsonl":
        m.write_text(json.dumps({"audio": "a.wav", "label": "angry", "speaker": "s1"}) + "\n")
    else:
        m.write_text("audio,label,speaker\na.wav,angry,s1\n")
    with pytest.raises(DatasetError, match=r"unknown label 'angry'; expected one of ANG, DIS, FEA, "
                                           r"HAP, NEU, SAD \(write another dataset's labels as "
                                           r"these codes, e\.g\. angry -> ANG"):
        load_dataset(m)
    # written as the codes (any case), the same manifest loads
    m.write_text(m.read_text().replace("angry", "ang"))
    assert [c.label for c in load_dataset(m).items] == ["ANG"]


def test_ravdess_song_clips_are_left_out_and_said(tmp_path):
    # RAVDESS's song half (vocal channel 02: 03-02-EE-...) extracted into the same Actor_NN
    # folders was read as speech: sung clips mixed into speech emotion, unsaid
    for actor in (1, 2):
        for channel in ("01", "02"):
            p = tmp_path / f"Actor_{actor:02d}" / f"03-{channel}-05-01-01-01-{actor:02d}.wav"
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(p, np.full(SAMPLE_RATE, 0.1, np.float32), SAMPLE_RATE)
    ds = load_dataset(tmp_path)
    assert [c.path.name for c in ds.items] == ["03-01-05-01-01-01-01.wav",
                                               "03-01-05-01-01-01-02.wav"]
    assert ds.skipped == [
        (str(tmp_path / f"Actor_0{a}" / f"03-02-05-01-01-01-0{a}.wav"),
         "vocal channel 02 is not speech (01): a song clip") for a in (1, 2)]
