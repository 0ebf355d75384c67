"""RAVDESS and CREMA-D file names were matched with \\d (and [A-Z] under re.I), which take
other scripts' digits (and the long s, the Kelvin sign) too: '03-01-\\u0660\\u0663-...' stopped
the whole load ('unknown RAVDESS emotion code'), '\\u0661\\u0660\\u0660\\u0661_DFA_ANG_XX.wav'
became a clip of another speaker than 1001. Only ASCII names match; any other is left out and
listed in `skipped`, as a file of no RAVDESS / CREMA-D name always was."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from speechbudget.tasks.ser.data import load_cremad, load_dataset, load_ravdess

ARABIC = "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"


def arabic(digits: str) -> str:
    return "".join(ARABIC[int(d)] for d in digits)


def write(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(3200, np.float32), 16000)
    return path


@pytest.mark.parametrize("name", [f"03-01-{arabic('03')}-01-01-01-01.wav",
                                  f"03-01-03-01-01-01-{arabic('01')}.wav",
                                  f"{arabic('03')}-{arabic('01')}-05-01-02-01-01.flac"])
def test_ravdess_names_with_other_digits_are_skipped_as_not_ravdess(tmp_path, name):
    write(tmp_path / "Actor_01" / "03-01-05-01-01-01-01.wav")
    odd = write(tmp_path / "Actor_01" / name)
    ds = load_ravdess(tmp_path)
    assert [c.label for c in ds.items] == ["ANG"]
    assert ds.skipped == [(str(odd), "name is not RAVDESS modality-channel-emotion-...-actor")]
    assert [c.label for c in load_dataset(tmp_path).items] == ["ANG"]


@pytest.mark.parametrize("name", [f"{arabic('1001')}_DFA_ANG_XX.wav",
                                  "1002_DFA_\u017fAD_XX.wav",  # long s: 'SAD' when upper-cased
                                  "1003_DFA_ANG_X\u212a.wav"])  # Kelvin sign
def test_cremad_names_with_other_digits_or_letters_are_skipped(tmp_path, name):
    write(tmp_path / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    odd = write(tmp_path / "AudioWAV" / name)
    ds = load_cremad(tmp_path)
    assert [(c.speaker, c.label) for c in ds.items] == [("1001", "ANG")]
    assert ds.skipped == [(str(odd), "name is not CREMA-D actor_sentence_emotion_level")]


def test_a_folder_of_only_other_digit_names_is_not_taken_for_cremad(tmp_path):
    write(tmp_path / f"{arabic('1001')}_DFA_ANG_XX.wav")
    from speechbudget.errors import DatasetError
    with pytest.raises(DatasetError, match="not a SER dataset"):
        load_dataset(tmp_path)
