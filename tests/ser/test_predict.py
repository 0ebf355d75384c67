"""`tasks.ser.predict` and `ser predict`: new recordings classified by a checkpoint exactly as
`ser eval` scores a clip. Two tiny checkpoints trained on the synthetic clips (a frozen backbone
with the linear head; LoRA with a token stride and the MLP head), then real actors' recordings
(RAVDESS sample, longer than D: the centre crop) classified."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from speechbudget.audio import AudioError, load_audio
from speechbudget.axes import Adaptation, Config
from speechbudget.cli import app
from speechbudget.tasks.ser.api import evaluate, train
from speechbudget.tasks.ser.checkpoint import load_checkpoint
from speechbudget.tasks.ser.data import load_dataset
from speechbudget.tasks.ser.features import predict_logits, read_clips
from speechbudget.tasks.ser.options import TrainOptions
from speechbudget.tasks.ser.predict import Prediction, SerPredictor, predict

CHECKPOINTS = {
    # frozen, `ser train`'s default head on it (linear), D = 1 s
    "frozen-linear": (dict(window=1.0), dict(progress=False)),
    # LoRA in every layer, token stride 2 after layer 1, the MLP head, D = 1.5 s
    "lora-stride-mlp": (dict(window=1.5, stride=2, stride_at="1",
                             adaptation=Adaptation(method="lora", rank=2)),
                        dict(epochs=2, head="mlp", progress=False)),
}


@pytest.fixture(scope="module", params=sorted(CHECKPOINTS))
def checkpoint(request, synthetic_manifest, tiny_whisper, tmp_path_factory):
    cfg, opts = CHECKPOINTS[request.param]
    out = tmp_path_factory.mktemp("ser_predict_ck") / request.param
    train(Config(task="ser", model="tiny.en", **cfg), synthetic_manifest, out,
          TrainOptions(**opts), source=str(tiny_whisper), folds=3)
    return out


@pytest.fixture(scope="module")
def actors(shared_emotion):
    """Six actors' clips of the RAVDESS sample (one per label, several actors), in order."""
    ds = load_dataset(shared_emotion)
    picked, seen = [], set()
    for c in ds.items:
        if c.label not in seen and c.speaker not in {p.speaker for p in picked[-1:]}:
            picked.append(c)
            seen.add(c.label)
    return ds, picked


def test_probabilities_are_those_ser_eval_scores(checkpoint, actors):
    ds, clips = actors
    preds = predict(checkpoint, [str(c.path) for c in clips], device="cpu")
    assert all(isinstance(p, Prediction) for p in preds) and len(preds) == len(clips)
    model, meta = load_checkpoint(checkpoint)
    d = Config.from_dict(meta["config"]).window
    # the evaluation path's logits: the same centre crops, softmax as `ser eval` takes it
    audio, skipped = read_clips(clips)
    assert not skipped
    want = predict_logits(model, clips, audio).softmax(-1)
    for p, row in zip(preds, want):
        assert list(p.probs) == model.labels
        assert torch.equal(torch.tensor(list(p.probs.values())), row)
        assert p.label == model.labels[int(row.argmax())] and p.score == max(p.probs.values())
        assert abs(sum(p.probs.values()) - 1) < 1e-5
        assert p.duration_s == d and p.audio_s > d and p.cropped  # actors' clips: over 2.5 s
    # what `ser eval` scores for them (its probs are rounded to 6 decimals)
    _, items = evaluate(checkpoint, ds, ids=[c.id for c in clips])
    by_id = {i.item_id: i for i in items}
    for c, p in zip(clips, preds):
        item = by_id[c.id]
        assert item.prediction == p.label
        assert np.abs(np.array(item.extra["probs"]) - list(p.probs.values())).max() <= 1e-6


def test_a_path_and_its_samples_predict_alike(checkpoint, actors):
    _, clips = actors
    path = str(clips[0].path)
    samples = load_audio(path)
    clf = SerPredictor(checkpoint, "cpu")
    by_path, by_array, by_dict = clf([path, samples, {"array": samples, "sampling_rate": 16000}])
    assert by_path.probs == by_array.probs == by_dict.probs
    assert by_path.source == path and by_array.source == "array #1"
    alone = clf(samples)  # one input alone: a list of one (a batch of 1: float rounding apart)
    assert len(alone) == 1 and alone[0].label == by_array.label
    assert max(abs(alone[0].probs[k] - q) for k, q in by_array.probs.items()) < 1e-6
    # shorter than D: zero-padded as eval pads, not cropped
    short = clf(samples[:8000])[0]
    assert not short.cropped and short.audio_s == 0.5


def test_a_stereo_44k_copy_predicts_what_the_original_does(checkpoint, actors, tmp_path):
    import soxr
    _, clips = actors
    clf = SerPredictor(checkpoint, "cpu")
    for c in clips[:3]:
        mono = load_audio(c.path)
        up = soxr.resample(mono, 16000, 44100, quality="HQ").astype(np.float32)
        stereo = np.stack([1.2 * up, 0.8 * up], axis=1)  # averaged back to `up`
        wav = tmp_path / f"{c.id}_stereo44k.wav"
        sf.write(wav, stereo, 44100, subtype="FLOAT")
        orig, copy, as_dict = clf([str(c.path), str(wav),
                                   {"array": stereo.mean(axis=1, dtype=np.float32),
                                    "sampling_rate": 44100}])
        assert copy.label == orig.label
        # 16 -> 44.1 -> 16 kHz through soxr HQ: the waveform differs by resampling error only
        diff = max(abs(copy.probs[k] - orig.probs[k]) for k in orig.probs)
        assert diff < 1e-2, diff  # measured: 2.8e-4 to 2.4e-3 on these clips
        assert as_dict.probs == copy.probs  # the file read = the dict input, channels averaged
        assert copy.audio_s == pytest.approx(orig.audio_s, abs=1 / 16000)


def test_bad_inputs_are_errors_naming_them(checkpoint, actors, tmp_path):
    _, clips = actors
    clf = SerPredictor(checkpoint, "cpu")
    missing = str(tmp_path / "missing.wav")
    with pytest.raises(AudioError, match="missing.wav: no such audio file"):
        clf([str(clips[0].path), missing])
    got = clf([missing, str(clips[0].path), np.zeros((2, 16000), np.float32),
               np.zeros(100, np.float32), np.arange(16000)], errors="return")
    assert isinstance(got[1], Prediction)
    assert [type(g) for g in got[2:]] == [AudioError] * 3 and "missing.wav" in str(got[0])
    assert "array #2" in str(got[2]) and "shape (2, 16000)" in str(got[2])
    assert "too short" in str(got[3]) and "int64" in str(got[4])
    with pytest.raises(AudioError, match="sampling_rate"):
        clf({"array": np.zeros(16000, np.float32)})


def test_a_list_of_samples_is_one_waveform_and_bytes_one_bad_input(checkpoint, actors):
    """The module text takes a waveform as a list too, and refuses encoded bytes by name; a list
    of floats was taken as that many inputs (16,000 'shape ()' errors for one second), bytes as
    one input per byte ('samples of dtype int64')."""
    _, clips = actors
    samples = load_audio(clips[0].path)[:16000]
    clf = SerPredictor(checkpoint, "cpu")
    (as_list,) = clf(samples.tolist())
    (as_array,) = clf(samples)
    assert isinstance(as_list, Prediction) and as_list.probs == as_array.probs
    assert as_list.source == "array #0"
    for given in (b"RIFF....WAVE", bytearray(b"RIFF")):
        got = clf(given, errors="return")
        assert len(got) == 1 and "encoded bytes" in str(got[0]), got
    # a list of waveforms (lists) is still a list of inputs (a batch: float rounding apart)
    pair = clf([samples.tolist(), samples.tolist()])
    assert len(pair) == 2 and all(p.label == as_list.label for p in pair)
    assert all(abs(p.probs[k] - q) < 1e-6 for p in pair for k, q in as_list.probs.items())


def _run(*args: str):
    return CliRunner().invoke(app, ["ser", "predict", *args, "--no-progress",
                                    "--device", "cpu"])


def test_cli_lines_json_and_a_bad_file(checkpoint, actors, tmp_path):
    _, clips = actors
    a, b = str(clips[0].path), str(clips[1].path)
    bad = tmp_path / "not audio[b].wav"
    bad.write_text("hello")
    out = tmp_path / "preds.json"
    r = _run(str(checkpoint), a, str(bad), b, "--top-k", "3", "-o", str(out))
    assert r.exit_code == 1, r.output  # a file failed (docs/security.md); the others printed
    want = predict(checkpoint, [a, b], device="cpu")
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    for got, p in zip(lines, want):
        cols = got.split("\t")
        assert cols[:3] == [p.source, p.label, f"p={p.score:.4f}"]
        assert cols[3:] == [f"{lab}={q:.4f}" for lab, q in p.top(3)[1:]]
    err = [x for x in r.stderr.splitlines() if x]
    assert len(err) == 2 and err[0].startswith(f"{bad}: not a readable audio file"), r.stderr
    assert err[1] == "error: 1 of 3 file(s) could not be classified; --allow-failures to exit 0"
    doc = json.loads(out.read_text())
    rows = doc["predictions"]
    assert [r_["file"] for r_ in rows] == [a, str(bad), b]
    assert rows[0]["probs"] == want[0].probs and rows[2]["label"] == want[1].label
    assert "error" in rows[1] and "not a readable audio file" in rows[1]["error"]
    assert doc["duration_s"] == want[0].duration_s and doc["labels"] == list(want[0].probs)
    r = _run(str(checkpoint), a, str(bad), "--allow-failures", "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)["predictions"][0]["probs"]  # a batch of 1 here: float rounding
    assert got == pytest.approx(want[0].probs, abs=1e-6)


def test_cli_a_folder_that_is_no_checkpoint(actors, tmp_path):
    _, clips = actors
    r = _run(str(tmp_path), str(clips[0].path))
    assert r.exit_code == 5
    assert r.stderr.strip() == f"error: {tmp_path}: not an SER checkpoint (no ser_config.json)"
    assert r.stdout == ""
