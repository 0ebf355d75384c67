"""A supervised adapter records the utterances it trained on (adapter.json train_items: ids,
their hash and count, their audio), and evaluation refuses to score those utterances: `asr eval
--adapter` exits 2 naming the count and the first, `evaluate` with AsrTask(adapter=...) reports
each as a failed item. A distill adapter (label-free) may be evaluated on its training audio
(test-time adaptation). Tiny random Whisper, loader patched."""
from __future__ import annotations

import hashlib
import json

import pytest
from typer.testing import CliRunner

from speechbudget.tasks.asr import adapt as ad
from speechbudget.tasks.asr.adapter_files import INFO_FILE, adapter_config
from speechbudget.tasks.asr.data import load_dataset

from .conftest import build_tiny_whisper, tiny_bundle, tone_rows



def _manifest(folder, name, rows):
    path = folder / f"{name}.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture
def data(tmp_path):
    rows = [{**r, "text": f"w{3 + i} w9"} for i, r in
            enumerate(tone_rows(tmp_path, "a", [1.0 + 0.3 * i for i in range(4)], 180))]
    return {"train": _manifest(tmp_path, "train", rows[:2]),
            "test": _manifest(tmp_path, "test", rows[2:]),
            "mixed": _manifest(tmp_path, "mixed", rows[1:]),
            # the training audio under other ids; other audio under a training id
            "renamed": _manifest(tmp_path, "renamed", [{**rows[0], "id": "x0"}]),
            "same_id": _manifest(tmp_path, "same_id", [{**rows[3], "id": "a0"}])}


@pytest.fixture
def cli(monkeypatch):
    import speechbudget.models.loading as loading
    bundle = tiny_bundle(build_tiny_whisper(seed=4))
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: bundle)
    return CliRunner()


COMMON = ["--window", "4", "--stride", "2", "--stride-at", "1"]


def _adapt(cli, data, out, objective):
    from speechbudget.cli import app
    r = cli.invoke(app, ["asr", "adapt", *COMMON, "--rank", "2", "--steps", "2", "--batch-size",
                         "2", "--adapt", objective, "--data", str(data), "--out", str(out)])
    assert r.exit_code == 0, r.output
    return json.loads((out / INFO_FILE).read_text())


def test_supervised_adapter_records_and_refuses_its_training_utterances(tmp_path, data, cli):
    from speechbudget.cli import app
    info = _adapt(cli, data["train"], tmp_path / "sup", "supervised")
    rec = info["train_items"]
    assert rec["count"] == 2 and rec["ids"] == ["a0", "a1"]
    assert rec["ids_sha1"] == hashlib.sha1(b"a0\na1").hexdigest()
    assert sorted(k[0] for k in rec["audio"]) == [str((tmp_path / f"a{i}.wav").resolve())
                                                  for i in range(2)]
    adapter = ["--adapter", str(tmp_path / "sup")]
    r = cli.invoke(app, ["asr", "eval", *COMMON, *adapter, "--data", str(data["mixed"])])
    assert r.exit_code == 2, r.output
    out = " ".join(r.output.split())
    assert "1 of the 3 evaluated utterances were used to train" in out and "a1:" in out, out
    r = cli.invoke(app, ["asr", "eval", *COMMON, *adapter, "--data", str(data["renamed"])])
    assert r.exit_code == 2 and "x0:" in " ".join(r.output.split()), r.output  # same audio
    r = cli.invoke(app, ["asr", "eval", *COMMON, *adapter, "--data", str(data["test"])])
    assert r.exit_code == 0, r.output


def test_evaluate_with_a_supervised_adapter_fails_the_seen_items(tmp_path, data, cli):
    from speechbudget.axes import Config
    from speechbudget.tasks.asr.runner import AsrTask, evaluate
    info = _adapt(cli, data["train"], tmp_path / "sup", "supervised")
    cfg = Config(task="asr", model="tiny.en", window=4, stride=2, stride_at=1).with_(
        adaptation=adapter_config(tmp_path / "sup", info).adaptation)
    task = AsrTask(batch_size=2, warmup=False, adapter=tmp_path / "sup")
    m, items = evaluate(cfg, load_dataset(data["mixed"]), device="cpu", task=task)
    by_id = {r.item_id: r for r in items}
    assert not by_id["a1"].ok and "trained on by the supervised adapter" in by_id["a1"].error
    assert by_id["a2"].ok and by_id["a3"].ok and m.n_items == 2 and m.n_failed == 1


def test_distill_adapter_may_see_the_evaluated_audio(tmp_path, data, cli):
    from speechbudget.cli import app
    info = _adapt(cli, data["train"], tmp_path / "dis", "distill")
    assert info["train_items"]["ids"] == ["a0", "a1"]
    assert ad.held_out_problems(tmp_path / "dis", load_dataset(data["train"]).items,
                                "train") == {}
    r = cli.invoke(app, ["asr", "eval", *COMMON, "--adapter", str(tmp_path / "dis"), "--data",
                         str(data["train"])])
    assert r.exit_code == 0, r.output


def test_unlisted_or_id_only_overlap_warns(tmp_path, data, cli):
    _adapt(cli, data["train"], tmp_path / "sup", "supervised")
    same_id = load_dataset(data["same_id"])
    with pytest.warns(UserWarning, match="ids of its training utterances but other audio"):
        assert ad.held_out_problems(tmp_path / "sup", same_id.items, same_id.source) == {}
    p = tmp_path / "sup" / INFO_FILE
    info = json.loads(p.read_text())
    info["train_items"]["audio"] = None        # ids only: an id match is a training utterance
    p.write_text(json.dumps(info))
    assert list(ad.held_out_problems(tmp_path / "sup", same_id.items, same_id.source)) == ["a0"]
    del info["train_items"]                     # written before train_items
    p.write_text(json.dumps(info))
    with pytest.warns(UserWarning, match="does not list the utterances it was trained on"):
        assert ad.held_out_problems(tmp_path / "sup", same_id.items, same_id.source) == {}
