"""A transcript that is present but empty is an item with no speech, scored (every word
transcribed there is an insertion), in every format; one that is missing is a failed item. The
readers made an empty one a failed item ('empty or missing transcript', Kaldi's 'no
transcript for'), so a set of non-speech clips could not be scored at all, and a model that
hallucinated on them was never charged for it."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import soundfile as sf

from speechbudget.datasets import open_dataset
from speechbudget.tasks.asr.wer import word_errors, wer_from_counts


def _wav(path):
    sf.write(path, np.zeros(1600, dtype=np.float32), 16000)
    return path.name


def _records(source, **kw):
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        ds = open_dataset(source, **kw)
    return ds, [str(w.message) for w in got]


def test_an_empty_transcript_is_scored_in_every_format(tmp_path):
    names = [_wav(tmp_path / f"{k}.wav") for k in "abc"]
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in [
        {"audio": names[0], "text": "hello"}, {"audio": names[1], "text": ""},
        {"audio": names[2], "text": "  "}]))
    csv = tmp_path / "m.csv"
    csv.write_text(f"audio,text\n{names[0]},hello\n{names[1]},\n{names[2]},\"  \"\n")
    kaldi = tmp_path / "k"
    kaldi.mkdir()
    (kaldi / "wav.scp").write_text("".join(f"u{i} {tmp_path / n}\n" for i, n in enumerate(names)))
    (kaldi / "text").write_text("u0 hello\nu1\nu2 \n")
    for source in (jsonl, csv, kaldi):
        ds, said = _records(source)
        assert [(r.text.strip(), r.problem) for r in ds.records] == \
            [("hello", None), ("", None), ("", None)], source
        assert len(said) == 1 and "2 of 3 items have an empty reference transcript" in said[0]


def test_a_missing_transcript_is_still_a_failed_item(tmp_path):
    names = [_wav(tmp_path / f"{k}.wav") for k in "abc"]
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text(json.dumps({"audio": names[0], "text": None}) + "\n"
                     + json.dumps({"audio": names[1]}) + "\n"
                     + json.dumps({"audio": names[2], "text": "x"}) + "\n")
    ds, said = _records(jsonl)
    assert ds.records[0].problem == f"{jsonl}:1: missing transcript 'text'"
    assert ds.records[1].problem == f"{jsonl}:2: missing transcript 'text'"
    assert ds.records[2].problem is None and not said
    csv = tmp_path / "m.csv"
    csv.write_text(f"audio,speaker,text\n{names[0]},s1,x\n{names[1]}\n")   # a short row
    ds, _ = _records(csv)
    assert ds.records[1].problem == f"{csv}:3: missing transcript 'text'"


def test_a_hugging_face_empty_transcript_is_scored(tmp_path):
    datasets = pytest.importorskip("datasets")
    table = datasets.Dataset.from_dict({
        "audio": [{"array": np.zeros(160, dtype=np.float32), "sampling_rate": 16000}] * 3,
        "text": ["hi", "", None]})
    ds, said = _records(table)
    assert [r.problem is None for r in ds.records] == [True, True, False]
    assert "missing transcript 'text'" in ds.records[2].problem
    assert len(said) == 1 and "1 of 3 items have an empty reference transcript" in said[0]


def test_an_empty_reference_counts_every_hypothesis_word_as_an_insertion():
    e = word_errors("", "thank you")
    assert (e.errors, e.n_ref) == (2, 0)
    assert wer_from_counts([1, e.errors], [4, e.n_ref]) == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="no words"):
        wer_from_counts([e.errors], [e.n_ref])
