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
