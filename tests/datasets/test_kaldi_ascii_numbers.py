"""Kaldi `segments` values were read with float() and str.isdigit()/int(), which take more than
Kaldi writes: float() read '1_0' as 10 and other scripts' digits ('\\u0661' as 1) as seconds;
'\\u0660' passed isdigit() and int() as channel 0, and '\\u00b2' (isdigit() true) crashed int()
with a bare ValueError. Each is now one DatasetError naming the file, line and value."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from speechbudget.datasets import DatasetError, open_dataset


@pytest.fixture
def kaldi(tmp_path):
    k = tmp_path / "k"
    k.mkdir()
    sf.write(k / "a.wav", np.zeros(16000, np.float32), 16000)
    (k / "wav.scp").write_text("r1 a.wav\n")
    (k / "text").write_text("s1 A\ns2 B\n")
    return k


@pytest.mark.parametrize("line,which,value", [
    ("s2 r1 \u0661 1.5", "start", "\u0661"),
    ("s2 r1 0 \u0660.\u0665", "end", "\u0660.\u0665"),
    ("s2 r1 0 1_0", "end", "1_0"),
    ("s2 r1 0x1 2", "start", "0x1"),
    ("s2 r1 abc 2", "start", "abc"),
])
def test_a_segment_time_that_is_not_a_number_names_file_line_and_value(kaldi, line, which,
                                                                         value):
    (kaldi / "segments").write_text(f"s1 r1 0 0.5\n{line}\n")
    with pytest.raises(DatasetError) as e:
        open_dataset(kaldi)
    assert str(e.value) == (f"{kaldi / 'segments'}:2: segment 's2': {which} {value!r} is not a "
                            "number of seconds (digits 0-9, an optional sign, decimal point and "
                            "exponent)")


# superscript 2, Arabic-Indic 0, fullwidth 0
@pytest.mark.parametrize("channel", ["\u00b2", "\u0660", "\uff10"])
def test_a_channel_that_is_not_ascii_digits_names_file_line_and_value(kaldi, channel):
    (kaldi / "segments").write_text(f"s1 r1 0 0.5 0\ns2 r1 0 0.5 {channel}\n")
    with pytest.raises(DatasetError) as e:
        open_dataset(kaldi)
    assert str(e.value) == (f"{kaldi / 'segments'}:2: segment 's2': expected 4 fields and an "
                            f"optional channel number, got {channel!r} after the times (a "
                            "channel is digits 0-9)")


def test_plain_kaldi_values_are_read_as_before(kaldi):
    (kaldi / "segments").write_text("s1 r1 0 0.5 0\ns2 r1 +.5 1e0\n")
    assert [(r.start_s, r.end_s) for r in open_dataset(kaldi).records] == [(0.0, 0.5),
                                                                           (0.5, 1.0)]
