"""SER data as users bring it: folder layouts named otherwise than the datasets' own copies."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from speechbudget.tasks.ser.data import load_dataset


def _write(path, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(8000, np.float32) + 0.01, 16000, format=fmt)


@pytest.mark.parametrize("ext,fmt", [("WAV", "WAV"), ("flac", "FLAC")])
def test_a_flat_cremad_folder_of_upper_case_wav_or_flac_names_is_cremad(tmp_path, ext, fmt):
    # load_cremad reads .WAV and .flac; the folder test only looked for *.wav (exit 3,
    # "not a SER dataset")
    for name in ("1001_DFA_ANG_XX", "1001_IEO_HAP_HI", "1002_DFA_SAD_LO"):
        _write(tmp_path / f"{name}.{ext}", fmt)
    ds = load_dataset(tmp_path)
    assert [(c.speaker, c.label) for c in ds.items] == [
        ("1001", "ANG"), ("1001", "HAP"), ("1002", "SAD")]


def test_a_jsonl_manifest_written_on_windows_finds_its_clips(tmp_path):
    # 'clips\\a.wav' was '<root>/clips\\a.wav: no such audio file' for every clip of a JSONL
    # manifest, while a CSV manifest reads it (datasets.manifest.audio_file)
    import json

    from speechbudget.tasks.ser.features import read_clips
    rows = []
    for i, (lab, spk) in enumerate([("ANG", "a"), ("SAD", "b")]):
        _write(tmp_path / "clips" / f"{i}.wav")
        rows.append({"audio": f"clips\\{i}.wav", "label": lab, "speaker": spk})
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = load_dataset(tmp_path / "m.jsonl")
    assert [c.path for c in ds.items] == [tmp_path / "clips" / "0.wav",
                                          tmp_path / "clips" / "1.wav"]
    audio, skipped = read_clips(ds.items)
    assert len(audio) == 2 and not skipped


def test_cremad_names_of_another_emotion_are_left_out_and_said(tmp_path):
    # 1001_DFA_SUR_XX.wav (an emotion outside the six) stopped the whole load, exit 3, where
    # RAVDESS's calm and surprised clips are left out and listed
    for name in ("1001_DFA_ANG_XX", "1001_DFA_SUR_XX", "1002_IEO_sad_HI"):
        _write(tmp_path / "AudioWAV" / f"{name}.wav")
    ds = load_dataset(tmp_path)
    assert [(c.speaker, c.label) for c in ds.items] == [("1001", "ANG"), ("1002", "SAD")]
    assert len(ds.skipped) == 1 and ds.skipped[0][0].endswith("1001_DFA_SUR_XX.wav")
    assert "SUR is not one of the six labels" in ds.skipped[0][1]


@pytest.mark.parametrize("codec", ["utf-16", "utf-32"])
def test_a_utf16_jsonl_manifest_is_read_as_asr_reads_one(tmp_path, codec):
    # tasks/ser/data had its own UTF-8-only line reader: 'm.jsonl:1: not UTF-8 text (byte 0 of
    # the line)' for Notepad's 'Unicode', which an ASR manifest reads (datasets.base.text_lines)
    _write(tmp_path / "clips" / "é 1.wav")
    _write(tmp_path / "clips" / "b.wav")
    body = ('{"audio": "clips/é 1.wav", "label": "ang", "speaker": "Zoë"}\r\n'
            '{"audio": "clips/b.wav", "label": "SAD", "speaker": "s2"}\r\n')
    (tmp_path / "m.jsonl").write_bytes(body.encode(codec))
    ds = load_dataset(tmp_path / "m.jsonl")
    assert [(c.path, c.label, c.speaker) for c in ds.items] == [
        (tmp_path / "clips" / "é 1.wav", "ANG", "Zoë"), (tmp_path / "clips" / "b.wav", "SAD", "s2")]
