"""Inputs a new user has and the bundled data does not: a 0-byte file, a manifest saved as UTF-16
(Windows 'Unicode'), paths written with Windows separators. Each was refused or failed with a
message that did not say what was wrong."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from speechbudget.audio import AudioError, load_audio
from speechbudget.datasets import open_dataset


def test_a_zero_byte_file_is_named_empty(tmp_path):
    # was: 'not a readable audio file (soundfile: ... Format not recognised.; librosa: EOFError)'
    (tmp_path / "a.wav").write_bytes(b"")
    with pytest.raises(AudioError) as e:
        load_audio(tmp_path / "a.wav")
    assert str(e.value) == f"{tmp_path / 'a.wav'}: an empty file (0 bytes), not an audio file"
    # a recording of 0 samples (a header, no audio) stays an empty recording
    sf.write(tmp_path / "b.wav", np.zeros(0, np.float32), 16000)
    assert load_audio(tmp_path / "b.wav").shape == (0,)


@pytest.mark.parametrize("codec, name", [("utf-16", "m.csv"), ("utf-16-be", "m.tsv"),
                                         ("utf-32", "m.jsonl")])
def test_a_utf16_or_utf32_manifest_with_its_byte_order_mark_is_read(tmp_path, codec, name):
    # Notepad's 'Unicode', Excel's 'Unicode Text': was 'm.csv:1: not UTF-8 text (byte 0 of the
    # line: b'\xff')'
    sf.write(tmp_path / "é 1.wav", np.zeros(160, np.float32), 16000)
    body = {"m.csv": "audio,text\r\né 1.wav,naïve café\r\n\r\n",
            "m.tsv": "audio\ttext\r\né 1.wav\tnaïve café\r\n",
            "m.jsonl": '{"audio": "é 1.wav", "text": "naïve café"}\r\n'}[name]
    bom = "\ufeff" if codec == "utf-16-be" else ""   # utf-16 / utf-32 write their own
    (tmp_path / name).write_bytes((bom + body).encode(codec))
    (r,) = open_dataset(tmp_path / name).records
    assert (r.path, r.text, r.problem) == (tmp_path / "é 1.wav", "naïve café", None)


def test_a_broken_utf16_manifest_is_named(tmp_path):
    (tmp_path / "m.csv").write_bytes("audio,text\na.wav,x\n".encode("utf-16") + b"\x00")
    from speechbudget.datasets import DatasetError
    with pytest.raises(DatasetError, match=r"m.csv: starts with a UTF-16 byte-order mark but is "
                                           r"not valid UTF-16 text \(truncated data"):
        open_dataset(tmp_path / "m.csv")


def test_relative_paths_with_windows_separators(tmp_path):
    # a manifest written on Windows: was '<root>/clips\a.wav: no such audio file'
    (tmp_path / "clips" / "sub").mkdir(parents=True)
    sf.write(tmp_path / "clips" / "sub" / "a.wav", np.zeros(160, np.float32), 16000)
    (tmp_path / "m.csv").write_bytes(b"audio,text\r\nclips\\sub\\a.wav,hi\r\n"
                                     b"clips\\sub\\gone.wav,hi\r\n")
    ds = open_dataset(tmp_path / "m.csv")
    assert ds.records[0].path == tmp_path / "clips" / "sub" / "a.wav"
    assert len(ds.read_audio(ds.records[0])) == 160
    # a file that is not there either way: named as written
    with pytest.raises(AudioError, match=r"clips\\sub\\gone.wav: no such audio file"):
        ds.read_audio(ds.records[1])
    # a file whose name holds a backslash (legal on Linux) is still that file
    sf.write(tmp_path / "b\\c.wav", np.zeros(80, np.float32), 16000)
    (tmp_path / "n.csv").write_text("audio,text\nb\\c.wav,hi\n")
    (r,) = open_dataset(tmp_path / "n.csv").records
    assert r.path == tmp_path / "b\\c.wav"


def test_a_cut_off_flac_is_read_up_to_the_damage_with_a_warning(tmp_path):
    # an interrupted download: was 'not a readable audio file (soundfile: Error : flac decoder
    # lost sync.; librosa: NoBackendError)', where a cut-off WAV is read as far as it goes
    from speechbudget.audio import TruncatedAudioWarning
    from speechbudget.datasets.base import read_file
    rng = np.random.default_rng(0)
    full = (0.1 * rng.standard_normal(16000 * 6)).astype(np.float32)
    sf.write(tmp_path / "full.flac", full, 16000, subtype="PCM_16")
    data = (tmp_path / "full.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[:len(data) // 2])
    decoded, _ = sf.read(tmp_path / "full.flac", dtype="float32")
    with pytest.warns(TruncatedAudioWarning, match=r"cut.flac: the audio breaks off after "
                                                   r"[0-9.]+ s of the 6.00 s its header claims"):
        got = load_audio(tmp_path / "cut.flac")
    assert 16000 <= len(got) < len(full)
    np.testing.assert_array_equal(got, decoded[:len(got)])
    # a segment inside what is there (Kaldi) is read as it was
    np.testing.assert_array_equal(read_file(tmp_path / "cut.flac", 0.5, 0.75),
                                  decoded[8000:12000])
