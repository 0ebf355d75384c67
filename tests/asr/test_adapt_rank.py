"""A LoRA rank above the adapted weights' dimensions (min(d_in, d_out)) is refused, naming the
rank and the largest one the model allows, before the teacher pass (CLI) and before any training
(Python API); it was accepted, trained and round-tripped. The check itself
(models.lora_targets.check_lora_rank) is shared with SER."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from speechbudget.axes import Adaptation, Config, ConfigError
from speechbudget.models.lora_targets import check_lora_rank

from .conftest import build_tiny_whisper, noisy_tone, tiny_bundle, tone_rows


@pytest.fixture(scope="module")
def encoder():
    # d_model 32, ffn 64: every default target (q_proj, v_proj) is 32x32; fc1 64x32, fc2 32x64
    return build_tiny_whisper(seed=4).model.encoder


@pytest.mark.parametrize("targets", [None, ("q_proj", "v_proj"), ("fc1",), ("fc2", "out_proj")])
def test_the_largest_rank_passes_and_one_more_is_refused(encoder, targets):
    check_lora_rank(encoder, Adaptation(method="lora", rank=32, targets=targets))
    with pytest.raises(ConfigError) as e:
        check_lora_rank(encoder, Adaptation(method="lora", rank=33, targets=targets))
    msg = str(e.value)
    assert e.value.field == "adaptation.rank" and e.value.value == 33
    assert "invalid adaptation.rank=33" in msg and "at most 32" in msg and "\n" not in msg, msg


def test_dama_and_other_methods(encoder):
    check_lora_rank(encoder, Adaptation(method="dama", rank=32))
    with pytest.raises(ConfigError, match="DAMA gives encoder layer 0 rank 40.*at most 32"):
        check_lora_rank(encoder, Adaptation(method="dama", rank=40))
    check_lora_rank(encoder, Adaptation(method="none", unfreeze_top=1))  # nothing to check


def _config(rank: int, objective: str = "distill") -> Config:
    return Config(task="asr", model="tiny.en", window=4.0, adaptation=Adaptation(
        method="lora", rank=rank, objective=objective, steps=1))


def test_the_python_api_refuses_before_the_teacher_pass_and_training(tmp_path, monkeypatch):
    import speechbudget.tasks.asr.adapt as ad
    from speechbudget.tasks.asr.adapt_trainable import student_model

    bundle = tiny_bundle(build_tiny_whisper(seed=4))

    class NoPipeline:
        def __init__(self, *a, **k):
            raise AssertionError("a pipeline was built: the teacher pass would run")
    monkeypatch.setattr(ad, "AsrPipeline", NoPipeline)
    items = [("a", noisy_tone(1.0, 0))]
    with pytest.raises(ConfigError, match=r"adaptation\.rank=33.*at most 32"):
        ad.prepare(bundle, _config(33), items)
    with pytest.raises(ConfigError, match=r"adaptation\.rank=33.*at most 32"):
        ad.prepare_supervised(bundle, _config(33, "supervised"), [("a", items[0][1], "w1")])
    with pytest.raises(ConfigError, match=r"adaptation\.rank=33"):  # samples made elsewhere
        student_model(bundle.model, _config(33).adaptation)
    assert student_model(bundle.model, _config(32).adaptation) is not None


def test_asr_adapt_refuses_the_rank_before_the_teacher_pass(tmp_path, monkeypatch):
    import speechbudget.models.loading as loading
    import speechbudget.tasks.asr.adapt as ad
    from speechbudget.cli import app

    bundle = tiny_bundle(build_tiny_whisper(seed=4))
    monkeypatch.setattr(loading, "load_whisper", lambda *a, **k: bundle)
    rows = tone_rows(tmp_path, "a", [1.2, 1.7])
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    common = ["asr", "adapt", "--window", "4", "--stride", "2", "--steps", "1",
              "--data", str(tmp_path / "m.jsonl")]
    prepare = ad.prepare

    def no_teacher(*a, **k):
        raise AssertionError("the teacher pass ran")
    monkeypatch.setattr(ad, "prepare", no_teacher)
    r = CliRunner().invoke(app, [*common, "--rank", "33", "--out", str(tmp_path / "ad")])
    assert r.exit_code == 2, r.output
    out = " ".join(r.output.split())
    assert "--rank" in out and "adaptation.rank=33" in out and "at most 32" in out, r.output
    assert "Traceback" not in r.output and not (tmp_path / "ad").exists()
    monkeypatch.setattr(ad, "prepare", prepare)
    r = CliRunner().invoke(app, [*common, "--rank", "32", "--out", str(tmp_path / "ok")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "ok" / "adapter.safetensors").exists()
