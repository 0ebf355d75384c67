"""Manifest (CSV / TSV / JSONL) and Kaldi edge cases a user's real files have: blank rows,
malformed quoting, long fields, odd values. Each either reads as meant or is one DatasetError
naming the file and line."""
from __future__ import annotations

import pytest

from speechbudget.datasets import DatasetError, open_dataset


def _write(path, text):
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_csv_rows_with_only_blank_fields_are_skipped_like_blank_lines(tmp_path):
    # a trailing "   " or "," line (an editor's or spreadsheet's leftover) became an item with
    # 'no audio path', failing the run; a blank JSONL line or a blank CSV line is skipped
    m = _write(tmp_path / "m.csv", "audio,text\na.wav,hello\n , \n,\n   \nb.wav,world\n")
    ds = open_dataset(m)
    assert [(r.id, r.text, r.problem) for r in ds.records] == [
        ("a.wav", "hello", None), ("b.wav", "world", None)]
    # a row with some field set but no audio is still reported
    m = _write(tmp_path / "n.csv", "audio,text\na.wav,hello\n,orphan\n")
    assert open_dataset(m).records[1].problem == f"{m}:3: no audio path in column 'audio'"


def test_csv_messages_name_the_row_s_own_line(tmp_path):
    # rows were numbered by count from line 2, so a blank line or a quoted multi-line transcript
    # above shifted every later message (and the 'lineN' id) to the wrong line
    m = _write(tmp_path / "m.csv", 'audio,text\na.wav,hello\n\n\nb.wav,"two\nlines"\n,orphan\n'
                                   'c.wav,\n')
    ds = open_dataset(m)
    assert [r.id for r in ds.records] == ["a.wav", "b.wav", "line7", "c.wav"]
    assert ds.records[2].problem == f"{m}:7: no audio path in column 'audio'"
    assert ds.records[3].problem == f"{m}:8: empty or missing transcript 'text'"
    assert ds.records[1].text == "two\nlines"
    # a short row gets None for its missing fields, a long one keeps its extra fields
    m = _write(tmp_path / "n.csv", "audio,text,speaker\na.wav,hi\nb.wav,yo,s1,extra\n")
    first, second = open_dataset(m).records
    assert (first.text, first.speaker) == ("hi", None)
    assert (second.speaker, second.extra) == ("s1", {None: ["extra"]})
