"""LJSpeech's layout (metadata.csv: `ID|TRANSCRIPTION|NORMALIZED`, no header; wavs/ID.wav) and an
audio root for manifests whose paths are relative to another folder. Before: a folder holding
LJSpeech's metadata.csv was read as a CSV whose header was its first clip (every item 'no audio
column'), and `asr eval` had no way to say where a manifest's relative paths start."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from speechbudget.datasets import Columns, DatasetError, open_dataset
from speechbudget.tasks.asr.data import load_dataset

SR = 16000
LINES = ['LJ001-0001|Printing, in the only sense with which we are at present concerned, differs'
         '|Printing, in the only sense with which we are at present concerned, differs',
         'LJ001-0002|in being comparatively modern.|in being comparatively modern.',
         'LJ001-0003|"Dr. Smith" paid $16 in 1820.|"Doctor Smith" paid sixteen dollars in '
         'eighteen twenty.']


def _wav(path, n, value=0.1):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.full(n, value, np.float32), SR, subtype="PCM_16")


def _ljspeech(root, lines=LINES, crlf=False):
    for i, line in enumerate(lines):
        _wav(root / "wavs" / f"{line.split('|')[0]}.wav", 800 * (i + 1))
    (root / "metadata.csv").write_bytes((("\r\n" if crlf else "\n").join(lines) + "\n")
                                        .encode())
    return root


@pytest.mark.parametrize("opened", ["folder", "file"])
def test_ljspeech_folder_or_metadata_file(tmp_path, opened):
    root = _ljspeech(tmp_path / "LJSpeech-1.1")
    ds = open_dataset(root if opened == "folder" else root / "metadata.csv")
    assert [(r.id, r.text, r.problem) for r in ds.records] == [
        ("LJ001-0001", "Printing, in the only sense with which we are at present concerned, "
                       "differs", None),
        ("LJ001-0002", "in being comparatively modern.", None),
        ("LJ001-0003", '"Dr. Smith" paid $16 in 1820.', None)]  # quotes kept: no CSV quoting
    assert [r.path for r in ds.records] == [root / "wavs" / f"LJ001-000{i}.wav" for i in (1, 2, 3)]
    assert [len(ds.read_audio(r)) for r in ds.records] == [800, 1600, 2400]


def test_ljspeech_normalized_transcription_by_column_name(tmp_path):
    root = _ljspeech(tmp_path)
    ds = open_dataset(root, Columns(text="normalized_text"))
    assert ds.records[2].text == '"Doctor Smith" paid sixteen dollars in eighteen twenty.'
    # the ASR loader: the same items, ids kept
    items = load_dataset(root).items
    assert [it.id for it in items] == ["LJ001-0001", "LJ001-0002", "LJ001-0003"]
    assert items[1].audio == root / "wavs" / "LJ001-0002.wav"


def test_ljspeech_windows_line_endings_bom_and_blank_lines(tmp_path):
    root = _ljspeech(tmp_path, crlf=True)
    raw = (root / "metadata.csv").read_bytes()
    (root / "metadata.csv").write_bytes(b"\xef\xbb\xbf" + raw + b"\r\n\r\n")
    ds = open_dataset(root)
    assert [r.id for r in ds.records] == ["LJ001-0001", "LJ001-0002", "LJ001-0003"]
    assert ds.records[1].text == "in being comparatively modern."  # no '\r' left on it


def test_two_field_lines_and_file_names(tmp_path):
    # many TTS corpora write LJSpeech's shape with two fields, some with the file's name
    _wav(tmp_path / "clips" / "a.wav", 160)
    _wav(tmp_path / "wavs" / "b.wav", 320)
    (tmp_path / "metadata.csv").write_text("clips/a.wav|hello there\nb|general kenobi\n")
    ds = open_dataset(tmp_path)
    assert [(r.id, r.path, r.text) for r in ds.records] == [
        ("clips/a.wav", tmp_path / "clips" / "a.wav", "hello there"),
        ("b", tmp_path / "wavs" / "b.wav", "general kenobi")]


def test_bad_lines_are_items_with_a_problem(tmp_path):
    root = _ljspeech(tmp_path, ["LJ1|one|one", "LJ2||", "LJ3|a|b|c"])
    ds = open_dataset(root)
    assert ds.records[0].problem is None
    assert (ds.records[1].text, ds.records[1].problem) == ("", None)   # empty: no speech
    assert "metadata.csv:3: 4 fields separated by '|'" in ds.records[2].problem
    # a missing clip: an item whose audio cannot be read, naming the file
    (root / "wavs" / "LJ1.wav").unlink()
    from speechbudget.audio import AudioError
    with pytest.raises(AudioError, match="LJ1.wav: no such audio file"):
        ds.read_audio(ds.records[0])


def test_duplicate_ids_and_a_column_it_does_not_have(tmp_path):
    root = _ljspeech(tmp_path, ["LJ1|one|one", "LJ1|two|two"])
    with pytest.raises(DatasetError, match="item id 'LJ1' is also on line 1"):
        open_dataset(root)
    root = _ljspeech(tmp_path / "b")
    with pytest.raises(DatasetError, match="no audio column 'file'"):
        open_dataset(root, Columns(audio="file"))
    with pytest.raises(DatasetError, match="no column 'sentence' for the text"):
        open_dataset(root, Columns(text="sentence"))


def test_an_ordinary_csv_is_still_a_csv(tmp_path):
    _wav(tmp_path / "a.wav", 160)
    (tmp_path / "metadata.csv").write_text("file_name,transcription\na.wav,x | y\n")
    (r,) = open_dataset(tmp_path).records
    assert (r.path, r.text) == (tmp_path / "a.wav", "x | y")
    # a pipe-separated file with a header is no LJSpeech metadata: read as CSV, refused by name
    (tmp_path / "metadata.csv").write_text("audio|text\na.wav|x\n")
    with pytest.raises(DatasetError, match="no audio column"):
        open_dataset(tmp_path)


# ---- audio root ------------------------------------------------------------------------------
def test_audio_root_for_jsonl_csv_ljspeech_and_kaldi(tmp_path):
    audio = tmp_path / "corpus"
    _wav(audio / "sub" / "x.wav", 480)
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "m.jsonl").write_text(json.dumps({"audio_filepath": "sub/x.wav", "text": "hi"})
                                   + "\n")  # NeMo's key
    (lists / "m.csv").write_text("file_name,text\nsub/x.wav,hi\n")
    (lists / "lj").mkdir()
    (lists / "lj" / "metadata.csv").write_text("sub/x.wav|hi|hi\n")
    kaldi = lists / "kaldi"
    kaldi.mkdir()
    (kaldi / "wav.scp").write_text("x sub/x.wav\n")
    (kaldi / "text").write_text("x hi\n")
    for source in (lists / "m.jsonl", lists / "m.csv", lists / "lj", kaldi):
        (r,) = open_dataset(source, audio_root=audio).records
        assert r.path == audio / "sub" / "x.wav", source
        assert len(open_dataset(source, audio_root=audio).read_audio(r)) == 480
    # LJSpeech ids: ID.wav directly under the root given (it replaces wavs/)
    (lists / "lj" / "metadata.csv").write_text("x|hi|hi\n")
    (r,) = open_dataset(lists / "lj", audio_root=audio / "sub").records
    assert r.path == audio / "sub" / "x.wav"


def test_audio_root_must_be_a_folder_and_fit_the_source(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"audio": "a.wav", "text": "hi"}\n')
    with pytest.raises(DatasetError, match=r"audio root .*nowhere: no such folder"):
        open_dataset(tmp_path / "m.jsonl", audio_root=tmp_path / "nowhere")
    ls = tmp_path / "ls" / "19" / "198"
    ls.mkdir(parents=True)
    (ls / "19-198.trans.txt").write_text("19-198-0001 HI\n")
    with pytest.raises(DatasetError, match="is a LibriSpeech folder.*--audio-root"):
        open_dataset(tmp_path / "ls", audio_root=tmp_path)
    with pytest.raises(DatasetError, match="is a Hugging Face hub dataset"):
        open_dataset("hf:x/y", audio_root=tmp_path)
