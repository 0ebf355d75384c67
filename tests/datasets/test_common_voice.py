"""Common Voice in its original layout (<lang>/test.tsv, <lang>/clips/*.mp3): the TSV's paths
are relative to clips/, and its sentences are plain tab-separated text with quotes in them. Both
failed: every clip was looked for beside the TSV (each item 'no such audio file'), and a sentence
that starts with a quote ('"Yes," she said.') made the whole file 'not valid CSV'."""
from __future__ import annotations

import numpy as np
import soundfile as sf

from speechbudget.datasets import open_dataset
from speechbudget.geometry import SAMPLE_RATE

HEADER = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tlocale\tsegment"


def test_common_voice_tsv_reads_clips_and_quoted_sentences(tmp_path):
    lang = tmp_path / "cv-corpus" / "en"
    (lang / "clips").mkdir(parents=True)
    for i in (1, 2, 3):
        sf.write(lang / "clips" / f"common_voice_en_{i}.wav", np.full(1600, 0.1, np.float32),
                 SAMPLE_RATE)
    rows = ['abc\tcommon_voice_en_1.wav\t"Yes," she said.\t2\t0\t\t\t\ten\t',
            'def\tcommon_voice_en_2.wav\tHe said "hi"\t2\t0\tthirties\tmale\t\ten\t',
            'ghi\tcommon_voice_en_3.wav\t"Quoted whole"\t2\t0\t\t\t\ten\t']
    (lang / "test.tsv").write_text("\n".join([HEADER, *rows]) + "\n")
    ds = open_dataset(lang / "test.tsv")
    assert [(r.id, r.text, r.speaker, r.problem) for r in ds.records] == [
        ("common_voice_en_1.wav", '"Yes," she said.', "abc", None),
        ("common_voice_en_2.wav", 'He said "hi"', "def", None),
        ("common_voice_en_3.wav", '"Quoted whole"', "ghi", None)]
    assert [r.path for r in ds.records] == [lang / "clips" / f"common_voice_en_{i}.wav"
                                            for i in (1, 2, 3)]
    assert len(ds.read_audio(ds.records[0])) == 1600


def test_a_tsv_without_common_voice_columns_keeps_paths_beside_it(tmp_path):
    # clips/ alone does not move the root: only Common Voice's own columns do
    (tmp_path / "clips").mkdir()
    (tmp_path / "list.tsv").write_text("audio\ttext\nclips/a.wav\tA \"B\" C\n")
    (r,) = open_dataset(tmp_path / "list.tsv").records
    assert (r.path, r.text) == (tmp_path / "clips" / "a.wav", 'A "B" C')
