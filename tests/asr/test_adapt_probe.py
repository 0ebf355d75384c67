"""Defects found by probing `asr adapt` / `asr eval` (tiny random Whisper, loader patched)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from .conftest import build_tiny_whisper, tiny_bundle

SR = 16000


def _strict(text: str):
    def refuse(c):
        raise ValueError(f"not strict JSON: {c}")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def patched(monkeypatch):
    import speechbudget.models.loading as loading
    bundle = tiny_bundle(build_tiny_whisper(seed=4))
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: bundle)
    return bundle


def _wavs(folder, n=3, texts=None, name="manifest.jsonl"):
    rows = []
    for i in range(n):
        t = np.arange(int((1.2 + 0.5 * i) * SR)) / SR
        sf.write(folder / f"a{i}.wav", (0.3 * np.sin(2 * np.pi * (180 + 90 * i) * t))
                 .astype(np.float32), SR, subtype="FLOAT")
        rows.append({"id": f"a{i}", "audio": f"a{i}.wav",
                     "text": texts[i] if texts else "w1 w2"})
    (folder / name).write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return folder / name


def test_eval_json_is_strict_when_every_utterance_failed(tmp_path, patched):
    """`asr eval --json` / `-o` printed `"value": NaN` when no utterance could be scored."""
    from speechbudget.cli import app
    (tmp_path / "bad.wav").write_bytes(b"RIFFxxxxjunk")
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"id": "b", "audio": "bad.wav",
                                                         "text": "w1"}) + "\n")
    out = tmp_path / "m.json"
    r = CliRunner().invoke(app, ["asr", "eval", "--data", str(tmp_path), "--json",
                                 "--no-progress", "-o", str(out)])
    assert r.exit_code == 1, r.output
    doc = _strict(r.stdout)
    assert doc["metrics"]["value"] is None and doc["metrics"]["n_failed"] == 1
    assert _strict(out.read_text())["metrics"]["value"] is None


@pytest.fixture
def trained(tmp_path, patched):
    from speechbudget.cli import app
    _wavs(tmp_path)
    out = tmp_path / "ad"
    common = ["--window", "4", "--stride", "2", "--data", str(tmp_path)]
    r = CliRunner().invoke(app, ["asr", "adapt", *common, "--rank", "2", "--steps", "1",
                                 "--batch-size", "3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out, common


def _damage(folder, how):
    if how == "json":
        (folder / "adapter.json").write_text("{not json")
    elif how == "no-config":
        info = json.loads((folder / "adapter.json").read_text())
        del info["config"]
        (folder / "adapter.json").write_text(json.dumps(info))
    elif how == "no-weights":
        (folder / "adapter.safetensors").unlink()
    elif how == "truncated":
        p = folder / "adapter.safetensors"
        p.write_bytes(p.read_bytes()[:100])


@pytest.mark.parametrize("how,named", [("json", "adapter.json"), ("no-config", "config"),
                                       ("no-weights", "adapter.safetensors"),
                                       ("truncated", "adapter.safetensors")])
def test_damaged_adapter_is_refused_by_name(trained, how, named):
    """A damaged adapter folder was an internal error (exit 70: JSONDecodeError, KeyError,
    FileNotFoundError, SafetensorError)."""
    from speechbudget.cli import app
    out, common = trained
    bad = out.parent / f"bad-{how}"
    shutil.copytree(out, bad)
    _damage(bad, how)
    r = CliRunner().invoke(app, ["asr", "eval", *common, "--adapter", str(bad), "--no-progress"])
    assert r.exit_code == 2, r.output
    assert named in r.output and "damaged" in r.output


def test_adapt_out_holding_another_adapter_is_refused(trained):
    """`asr adapt --out DIR` silently replaced DIR's adapter of another configuration."""
    from speechbudget.cli import app
    out, common = trained
    before = (out / "adapter.json").read_text()
    cli = CliRunner()
    r = cli.invoke(app, ["asr", "adapt", "--window", "6", "--data", common[-1], "--rank", "2",
                         "--steps", "1", "--batch-size", "3", "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert "window=4.0" in r.output and "another --out" in r.output
    r = cli.invoke(app, ["asr", "adapt", *common, "--rank", "2", "--steps", "1",
                         "--batch-size", "3", "--seed", "5", "--out", str(out)])
    assert r.exit_code == 2 and "seed=0" in r.output, r.output
    assert (out / "adapter.json").read_text() == before
    r = cli.invoke(app, ["asr", "adapt", *common, "--rank", "2", "--steps", "1",
                         "--batch-size", "3", "--out", str(out)])   # the same run: trained again
    assert r.exit_code == 0, r.output


def test_sweep_supervised_refuses_adapt_data_holding_evaluated_utterances(tmp_path, patched):
    """Supervised adapt_data that held the evaluated utterances and more (here: the same
    manifest under a sweep item limit, and a superset manifest) trained on the test
    transcripts; only an identical data set was refused."""
    from speechbudget.sweep.run import run_sweep
    data = _wavs(tmp_path, n=4, texts=[f"w{3 + i} w9" for i in range(4)])
    rows = [json.loads(ln) for ln in data.read_text().splitlines()]
    sub = tmp_path / "sub"
    sub.mkdir()
    extra = [{**r, "id": f"x{i}", "audio": str(tmp_path / r["audio"])}
             for i, r in enumerate(rows)]                     # same audio, other ids and folder
    (sub / "superset.jsonl").write_text("\n".join(json.dumps(r) for r in extra) + "\n")

    def spec(adapt_data, **opts):
        return {"name": "adapt", "task": "asr", "data": str(data),
                "task_options": {"batch_size": 4, "warmup": False, "adapt_batch_size": 4,
                                 "adapter_cache": str(tmp_path / "cache"),
                                 "adapt_data": str(adapt_data), **opts},
                "models": ["tiny.en"],
                "axes": {"window": [4], "stride": [2],
                         "adaptation": [{"method": "lora", "rank": 2, "steps": 1}]}}

    for n, s in enumerate([spec(data, max_items=2), spec(sub / "superset.jsonl")]):
        got = run_sweep(s, tmp_path / f"{n}.db", executor="local", progress=False, device="cpu")
        assert got.failed == 1, got.failures
        assert "test transcripts" in next(iter(got.failures.values()))
    assert not (tmp_path / "cache").exists() or not any(
        (p / "adapter.json").exists() for p in (tmp_path / "cache").iterdir())


def test_adapter_serves_other_beam_sizes_but_not_other_windows(trained, tmp_path):
    """`asr eval --adapter --beam 2` was refused ("trained for beam_size=1"), although the beam
    size does not change the adapter: no adapter could be evaluated with beam search."""
    from speechbudget.cli import app
    out, common = trained
    cli = CliRunner()
    r = cli.invoke(app, ["asr", "eval", *common, "--adapter", str(out), "--beam", "2",
                         "--no-progress", "-o", str(tmp_path / "b2.json")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "b2.json").read_text())["config"]["beam_size"] == 2
    for bad, named in ((["--window", "6"], "window=4.0"), (["--pool", "drop"], "pool='mean'"),
                       (["--precision", "bf16"], "precision='fp32'")):
        args = [*common, *bad]
        r = cli.invoke(app, ["asr", "eval", *args, "--adapter", str(out), "--no-progress"])
        assert r.exit_code == 2 and named in r.output, r.output


def test_sweep_trains_one_adapter_for_several_beam_sizes(tmp_path, patched, monkeypatch):
    """A sweep over beam sizes trained the same adapter once per beam size."""
    from speechbudget.sweep.run import run_sweep
    from speechbudget.tasks.asr import adapt as ad
    calls = []
    real = ad.train_adapter
    monkeypatch.setattr(ad, "train_adapter",
                        lambda b, c, *a, **k: calls.append(c.key) or real(b, c, *a, **k))
    data = _wavs(tmp_path, n=2)
    spec = {"name": "beams", "task": "asr", "data": str(data),
            "task_options": {"batch_size": 2, "warmup": False, "adapt_batch_size": 2,
                             "adapter_cache": str(tmp_path / "cache")},
            "models": ["tiny.en"],
            "axes": {"window": [4], "stride": [2], "beam": [1, 2],
                     "adaptation": [{"method": "lora", "rank": 2, "objective": "distill",
                                     "steps": 1}]}}
    s = run_sweep(spec, tmp_path / "a.db", executor="local", progress=False, device="cpu")
    assert s.failed == 0 and s.finished == 2, s.failures
    assert len(calls) == 1
    (m1, m2) = [m for _, m in s.metrics]
    assert m1.train_gflops == m2.train_gflops > 0
