"""A CSV/TSV manifest's duration was read with float(), which took '1_0' as 10 s and other
scripts' digits ('\\u0661\\u0662' as 12 s) into the sweep planner's mean audio length. A duration
written as text is now a number as typed (typed_numbers.plain_number), else the usual error
naming the file, line and value."""
from __future__ import annotations

import pytest

from speechbudget.datasets import DatasetError, open_dataset


@pytest.mark.parametrize("value", ["\u0661\u0662", "1_0", "\uff12.5", "0x10"])
def test_a_duration_that_is_not_typed_digits_is_refused(tmp_path, value):
    m = tmp_path / "m.csv"
    m.write_text(f"audio,text,duration\na.wav,hi,2.5\nb.wav,yo,{value}\n", encoding="utf-8")
    with pytest.raises(DatasetError) as e:
        open_dataset(m)
    assert str(e.value) == f"{m}:3: duration={value!r} is not a number of seconds >= 0"


def test_typed_durations_are_read_as_before(tmp_path):
    m = tmp_path / "m.tsv"
    m.write_text("audio\ttext\tduration\na.wav\thi\t 2.5 \nb.wav\tyo\t1e1\nc.wav\tx\t7\n")
    assert [r.duration_s for r in open_dataset(m).records] == [2.5, 10.0, 7.0]
    j = tmp_path / "m.jsonl"
    j.write_text('{"audio": "a.wav", "text": "hi", "duration_s": 3}\n'
                 '{"audio": "b.wav", "text": "hi", "duration_s": "4.5"}\n')
    assert [r.duration_s for r in open_dataset(j).records] == [3.0, 4.5]
