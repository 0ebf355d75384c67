"""SER data: folder layouts, manifests, speaker-disjoint folds, crops, bad input."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from speechbudget.audio import AudioError
from speechbudget.tasks.ser.data import (LABELS, DatasetError, check_disjoint, crop_or_pad,
                                         load_dataset, load_manifest, read_clip, speaker_folds)
from speechbudget.tasks.ser.features import read_clips


def _wav(path, seconds=0.5):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(16000 * seconds), np.float32) + 0.01, 16000)


def test_ravdess_layout_maps_emotions_and_counts_dropped(tmp_path):
    for actor in (1, 2):
        for emo in ("01", "02", "03", "04", "05", "06", "07", "08"):
            _wav(tmp_path / f"Actor_{actor:02d}" / f"03-01-{emo}-01-01-01-{actor:02d}.wav")
    ds = load_dataset(tmp_path)
    assert len(ds) == 12 and ds.speakers == ["Actor_01", "Actor_02"]
    by = {c.path.name: c.label for c in ds.items}
    assert by["03-01-01-01-01-01-01.wav"] == "NEU" and by["03-01-03-01-01-01-01.wav"] == "HAP"
    assert by["03-01-04-01-01-01-02.wav"] == "SAD" and by["03-01-05-01-01-01-02.wav"] == "ANG"
    assert by["03-01-06-01-01-01-01.wav"] == "FEA" and by["03-01-07-01-01-01-01.wav"] == "DIS"
    assert len(ds.skipped) == 4 and all("calm" in r or "surprised" in r for _, r in ds.skipped)
    assert ds.class_counts() == {lab: 2 for lab in LABELS}


def test_cremad_layout(tmp_path):
    for name in ("1001_DFA_ANG_XX", "1001_IEO_HAP_HI", "1002_DFA_SAD_LO", "1002_ITS_NEU_XX"):
        _wav(tmp_path / "AudioWAV" / f"{name}.wav")
    ds = load_dataset(tmp_path)
    assert [(c.speaker, c.label) for c in ds.items] == [
        ("1001", "ANG"), ("1001", "HAP"), ("1002", "SAD"), ("1002", "NEU")]
    assert ds.items[1].extra == {"sentence": "IEO", "level": "HI"}


def test_manifest_errors_name_the_line(tmp_path):
    m = tmp_path / "m.jsonl"
    m.write_text(json.dumps({"audio": "a.wav", "label": "XXX", "speaker": "s"}) + "\n")
    with pytest.raises(DatasetError, match=r"m.jsonl:1: unknown label 'XXX'"):
        load_manifest(m)
    m.write_text(json.dumps({"audio": "a.wav", "label": "ANG"}) + "\n")
    with pytest.raises(DatasetError, match="missing field.*speaker"):
        load_manifest(m)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty: not a SER dataset"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "nothing_here")


def test_speaker_folds_are_disjoint_balanced_and_seeded(synthetic_manifest):
    ds = load_manifest(synthetic_manifest)
    folds = speaker_folds(ds, 3, seed=0)
    assert speaker_folds(ds, 3, seed=0) == folds
    assert sorted(i for f in folds for i in f) == sorted(c.id for c in ds.items)
    spk = [{ds.get(i).speaker for i in f} for f in folds]
    assert all(not (a & b) for j, a in enumerate(spk) for b in spk[j + 1:])
    assert [len(f) for f in folds] == [24, 24, 24]
    assert speaker_folds(ds, 3, seed=1) != folds
    with pytest.raises(DatasetError, match="folds=7"):
        speaker_folds(ds, 7)
    one = replace(ds, items=[c for c in ds.items if c.speaker == "spk0"])
    with pytest.raises(DatasetError, match="1 speaker.*need at least 2"):
        speaker_folds(one, 2)


def test_actor_in_two_splits_is_an_error(synthetic_manifest):
    ds = load_manifest(synthetic_manifest)
    a = [c.id for c in ds.items if c.speaker == "spk0"]
    with pytest.raises(DatasetError, match="speaker 'spk0' is in both"):
        check_disjoint(ds, train=a[:3], test=a[3:])


def test_crop_or_pad():
    x = np.arange(48000, dtype=np.float32)
    c, n = crop_or_pad(x, 1.0, "center")
    assert n == 16000 and c[0] == 16000 and c[-1] == 31999
    r1, _ = crop_or_pad(x, 1.0, "random", np.random.default_rng(0))
    r2, _ = crop_or_pad(x, 1.0, "random", np.random.default_rng(0))
    assert np.array_equal(r1, r2) and np.all(np.diff(r1) == 1)
    p, n = crop_or_pad(x[:8000], 1.0)
    assert n == 8000 and len(p) == 16000 and np.all(p[8000:] == 0) and p[7999] == 7999


def test_bad_clips_are_recorded_not_dropped_silently(tmp_path):
    _wav(tmp_path / "ok.wav")
    _wav(tmp_path / "short.wav", seconds=0.02)
    (tmp_path / "broken.wav").write_bytes(b"not audio at all")
    rows = [{"id": n, "audio": f"{n}.wav", "label": "ANG", "speaker": "a"}
            for n in ("ok", "short", "broken", "missing")]
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = load_dataset(tmp_path)
    with pytest.raises(AudioError, match="short.wav.*too short"):
        read_clip(ds.get("short"))
    audio, skipped = read_clips(ds.items)
    assert list(audio) == ["ok"]
    assert [i for i, _ in skipped] == ["short", "broken", "missing"]
    assert all(str(tmp_path) in reason for _, reason in skipped)


def test_shared_emotion_sample(shared_emotion):
    ds = load_dataset(shared_emotion)
    assert len(ds) == 456 and len(ds.speakers) == 19
    assert set(ds.class_counts().values()) == {76}
    folds = speaker_folds(ds, 5, seed=0)
    assert sum(map(len, folds)) == 456
