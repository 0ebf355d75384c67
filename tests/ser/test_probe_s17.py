"""Probe (session 17) of `ser train` / `ser eval` as a demanding user runs them: each bad value is
one line and the documented exit code (docs/security.md), before any work where it can be; what a
run writes is the model it trained."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app


def _train(*args: str):
    return CliRunner().invoke(app, ["ser", "train", "--no-progress", *args])


def _one_line_error(r, code: int, *words: str) -> None:
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output
    for w in words:
        assert w in r.output, (w, r.output)


@pytest.mark.parametrize("device", ["bogus", "cuda:99"])
def test_a_device_torch_cannot_use_is_a_usage_error(synthetic_manifest, tiny_whisper, tmp_path,
                                                    device):
    # was exit 70 (AssertionError / RuntimeError from torch) after reading the data
    r = _train("--device", device, "--model", str(tiny_whisper), "--arch", "tiny.en",
               "--data", str(synthetic_manifest), "--out", str(tmp_path / "ck"))
    _one_line_error(r, 2, device)
    assert not (tmp_path / "ck").exists()
    r = CliRunner().invoke(app, ["ser", "eval", str(tmp_path), "--device", device,
                                 "--data", str(synthetic_manifest)])
    _one_line_error(r, 2, device)


@pytest.mark.parametrize("folds", ["1", "0", "-2"])
def test_fewer_than_two_folds_is_a_usage_error(synthetic_manifest, tmp_path, folds):
    # was exit 3 (a data error) after reading the dataset, for a value no dataset can satisfy
    r = _train("--device", "cpu", "--data", str(synthetic_manifest), f"--folds={folds}",
               "--out", str(tmp_path / "ck"))
    _one_line_error(r, 2, "--folds", folds)


@pytest.mark.parametrize("extra", [["--rank", "4"], ["--alpha", "8"], ["--targets", "q_proj"],
                                   ["--rank", "4", "--unfreeze-top", "1"]])
def test_lora_options_without_lora_are_refused(synthetic_manifest, tmp_path, extra):
    # --adapt none (the default) with --rank 4 trained a frozen backbone, exit 0: the rank, alpha
    # and targets were dropped without a word
    r = _train("--device", "cpu", "--data", str(synthetic_manifest), *extra,
               "--out", str(tmp_path / "ck"))
    _one_line_error(r, 2, extra[0], "--adapt lora")
    assert not (tmp_path / "ck").exists()


def test_an_unknown_model_folder_asks_for_arch(synthetic_manifest, tiny_whisper, tmp_path):
    # the hint said "pass --model NAME" to a user who had passed --model (the backbone folder);
    # the architecture option is --arch
    r = _train("--device", "cpu", "--model", str(tiny_whisper), "--data", str(synthetic_manifest),
               "--out", str(tmp_path / "ck"))
    _one_line_error(r, 2, "pass --arch NAME")
    # the old spelling (--backbone FOLDER) still takes the architecture as --model
    r = _train("--device", "cpu", "--backbone", str(tiny_whisper),
               "--data", str(synthetic_manifest), "--out", str(tmp_path / "ck"))
    _one_line_error(r, 2, "pass --model NAME")


def test_pool_reaches_the_configuration_and_rank_keeps_its_default(synthetic_manifest,
                                                                   tiny_whisper, tmp_path):
    # ser train had no --pool: a token stride always averaged (pool 'mean'), though the backbone,
    # flops and sweeps take 'drop' and 'attn'
    r = _train("--device", "cpu", "--model", str(tiny_whisper), "--arch", "tiny.en",
               "--data", str(synthetic_manifest), "--duration", "1", "--folds", "3",
               "--epochs", "1", "--stride", "2", "--pool", "drop", "--adapt", "lora",
               "--head", "mlp", "--out", str(tmp_path / "ck"))
    assert r.exit_code == 0, r.output
    config = json.loads((tmp_path / "ck" / "ser_config.json").read_text())["config"]
    assert config["pool"] == "drop" and config["adaptation"]["rank"] == 16
    r = _train("--device", "cpu", "--data", str(synthetic_manifest), "--stride", "2",
               "--pool", "max", "--out", str(tmp_path / "ck2"))
    _one_line_error(r, 2, "pool='max'")


def test_attention_pooled_tokens_are_masked_by_what_they_are(tiny_whisper):
    # pool 'attn' keeps the most attended tokens, padding among them: the mask said the first
    # ceil(audio tokens / stride) kept tokens were audio (30 here), while 28 kept tokens lay in the
    # audio (the others were padding counted as audio, in the pooled features)
    import math

    import numpy as np
    import torch

    from speechbudget.log_mel import log_mel_batch
    from speechbudget.axes import Config
    from speechbudget.geometry import HOP_LENGTH, SAMPLE_RATE
    from speechbudget.models.whisper_encoder import encode_with_indices, encoder_tokens
    from speechbudget.tasks.ser.backbone import build_backbone
    from speechbudget.tasks.ser.data import crop_or_pad

    from tests.ser.conftest import synth_clip

    config = Config(task="ser", model="tiny.en", window=2.0, stride=2, stride_at=1, pool="attn")
    bb = build_backbone(config, str(tiny_whisper))
    crops = [crop_or_pad(synth_clip(i, 0, 0, s), 2.0) for i, s in enumerate((0.7, 1.2, 2.5))]
    waves = torch.from_numpy(np.stack([w for w, _ in crops]))
    n_valid = [n for _, n in crops]
    with torch.no_grad():
        _, mask = bb(waves, n_valid)
        mel = log_mel_batch(list(waves), bb.n_mels, bb.frames)
        audio_tokens = torch.tensor([encoder_tokens(math.ceil(n / HOP_LENGTH)) for n in n_valid])
        _, _, idx = encode_with_indices(bb.encoder, mel, 2, 1, "attn", output_hidden_states=True,
                                        audio_tokens=audio_tokens)
    assert torch.equal(mask, (idx < audio_tokens[:, None]).float())
    assert mask[2].all() and n_valid[2] == 2 * SAMPLE_RATE  # a full window: every token is audio


@pytest.mark.parametrize("bad", [dict(lr=float("inf")), dict(backbone_lr=float("inf")),
                                 dict(seed=2**32), dict(seed=10**20)])
def test_training_options_refuse_what_no_fit_can_use(bad):
    # lr=inf trained to NaN weights and saved them (exit 0); a seed of 2**32 or more failed in
    # scikit-learn (the linear head) or torch after the features were extracted (exit 70)
    from speechbudget.tasks.ser.options import TrainOptions
    with pytest.raises(ValueError, match=next(iter(bad))):
        TrainOptions(**bad)
    TrainOptions(seed=2**32 - 1, lr=1e3)  # the largest seed; any finite rate


def test_cli_seed_out_of_range_is_a_usage_error(synthetic_manifest, tmp_path):
    r = _train("--device", "cpu", "--data", str(synthetic_manifest), "--seed", str(2**32),
               "--out", str(tmp_path / "ck"))
    _one_line_error(r, 2, "seed=4294967296")


def test_a_checkpoint_of_a_relative_model_folder_loads_from_anywhere(synthetic_manifest,
                                                                     tiny_whisper, tmp_path,
                                                                     monkeypatch):
    # `ser train --model wh` (a folder under the working directory) stored "wh": `ser eval` from
    # any other directory failed (exit 5, "unknown model 'wh'") or would load another folder wh
    import os
    work, other = tmp_path / "work", tmp_path / "other"
    work.mkdir(), other.mkdir()
    monkeypatch.chdir(work)
    r = _train("--device", "cpu", "--model", os.path.relpath(tiny_whisper, work), "--arch",
               "tiny.en", "--data", str(synthetic_manifest), "--duration", "1", "--folds", "3",
               "--epochs", "1", "--out", "ck")
    assert r.exit_code == 0, r.output
    meta = json.loads((work / "ck" / "ser_config.json").read_text())
    assert Path(meta["backbone_source"]) == tiny_whisper.resolve()
    monkeypatch.chdir(other)
    r = CliRunner().invoke(app, ["ser", "eval", str(work / "ck"), "--no-progress", "--device",
                                 "cpu", "--data", str(synthetic_manifest), "--held-out", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["metrics"]["ua"] == meta["test"]["ua"]


def test_a_dama_rank_above_the_weights_dimension_is_refused(synthetic_manifest, tiny_whisper,
                                                            tmp_path):
    # PiSSA takes the top-r singular vectors: at rank 40 on 32x32 weights PEFT built rank-32
    # adapters, training ended with exit 0, and the checkpoint could not be loaded (exit 5, "size
    # mismatch for ...lora_A... [32, 32] ... [40, 32]"): `ser eval` of what `ser train` wrote
    args = ["--device", "cpu", "--model", str(tiny_whisper), "--arch", "tiny.en", "--data",
            str(synthetic_manifest), "--duration", "1", "--folds", "3", "--epochs", "1",
            "--adapt", "dama", "--head", "mlp"]
    r = _train(*args, "--rank", "40", "--out", str(tmp_path / "ck40"))
    _one_line_error(r, 2, "adaptation.rank=40", "at most 32")
    assert not (tmp_path / "ck40" / "ser_config.json").exists()
    r = _train(*args, "--rank", "32", "--out", str(tmp_path / "ck32"))  # the largest: round trip
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["ser", "eval", str(tmp_path / "ck32"), "--no-progress",
                                 "--device", "cpu", "--data", str(synthetic_manifest),
                                 "--held-out", "--json"])
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "ck32" / "ser_config.json").read_text())
    assert json.loads(r.stdout)["metrics"]["ua"] == meta["test"]["ua"]


def test_a_held_out_fold_with_no_readable_clip_is_a_data_error(synthetic_manifest, tiny_whisper,
                                                               tmp_path):
    # every clip of the held-out actor unreadable: exit 70 ("ValueError: no predictions to
    # score") after the whole training; now exit 3 naming the fold and a file, before training
    from speechbudget.tasks.ser.data import load_dataset, speaker_folds
    rows = [json.loads(line) for line in synthetic_manifest.read_text().splitlines()]
    rows = [{**r, "audio": str(synthetic_manifest.parent / r["audio"]) if r["speaker"] != "spk2"
             else str(tmp_path / "gone" / f"{r['id']}.wav")}
            for r in rows if r["speaker"] in ("spk0", "spk1", "spk2")]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    folds = speaker_folds(load_dataset(manifest), 3, 0)
    fold = next(i for i, ids in enumerate(folds) if any(i.startswith("s2_") for i in ids))
    r = _train("--device", "cpu", "--model", str(tiny_whisper), "--arch", "tiny.en",
               "--data", str(manifest), "--duration", "1", "--folds", "3", "--fold", str(fold),
               "--epochs", "1", "--out", str(tmp_path / "ck"))
    _one_line_error(r, 3, f"held-out fold {fold}", str(tmp_path / "gone"))
    assert not (tmp_path / "ck" / "ser_config.json").exists()


@pytest.mark.parametrize("extra,option", [
    (["--unfreeze-top", "1", "--head", "mlp"], "adaptation.unfreeze_top=1"),
    (["--adapt", "lora", "--lora-top", "1", "--train-crop", "center"], "adaptation.lora_top=1"),
    (["--stride", "2", "--stride-at", "5"], "stride_at=5")])
def test_layer_options_on_weights_with_other_layers_than_the_arch(synthetic_manifest,
                                                                  tiny_whisper, tmp_path, extra,
                                                                  option):
    # 4-layer weights of no registry size named --arch base (6 layers): --unfreeze-top 1 with
    # centre crops and --lora-top 1 were exit 70 (IndexError: the cached prefix at base's layer
    # 5), --stride-at 5 silently strided after the final layer norm (4-layer encoder: 5 = output)
    r = _train("--device", "cpu", "--model", str(tiny_whisper), "--arch", "base",
               "--data", str(synthetic_manifest), "--duration", "1", "--folds", "3",
               "--epochs", "1", *extra, "--out", str(tmp_path / "ck"))
    _one_line_error(r, 2, option, "4")
    assert not (tmp_path / "ck" / "ser_config.json").exists()


def test_the_linear_head_refuses_last_layer(synthetic_manifest, tiny_whisper, tmp_path):
    # --head linear --last-layer fitted the linear head on every layer side by side, exit 0
    r = _train("--device", "cpu", "--model", str(tiny_whisper), "--arch", "tiny.en", "--data",
               str(synthetic_manifest), "--duration", "1", "--folds", "3", "--head", "linear",
               "--last-layer", "--out", str(tmp_path / "ck"))
    _one_line_error(r, 2, "--last-layer", "--head mlp")


def test_files_a_dataset_leaves_out_are_said(tiny_whisper, tmp_path):
    # RAVDESS files of no known name, or calm/surprised, were left out without a word on the
    # command line (only in the API's dataset.skipped): a misnamed actor folder trained on less
    import soundfile as sf

    from tests.ser.conftest import synth_clip
    codes = {"NEU": "01", "HAP": "03", "SAD": "04", "ANG": "05", "FEA": "06", "DIS": "07"}
    for a in (1, 2, 3):
        d = tmp_path / "rav" / f"Actor_{a:02d}"
        d.mkdir(parents=True)
        for i, code in enumerate(codes.values()):
            sf.write(d / f"03-01-{code}-01-01-01-{a:02d}.wav", synth_clip(i, a, 0), 16000)
    sf.write(tmp_path / "rav" / "Actor_03" / "take2.wav", synth_clip(0, 3, 1), 16000)
    r = _train("--device", "cpu", "--model", str(tiny_whisper), "--arch", "tiny.en", "--data",
               str(tmp_path / "rav"), "--duration", "1", "--folds", "3", "--out",
               str(tmp_path / "ck"))
    assert r.exit_code == 0, r.output
    assert "1 file(s)" in r.output and "take2.wav" in r.output
    r = CliRunner().invoke(app, ["ser", "eval", str(tmp_path / "ck"), "--no-progress", "--device",
                                 "cpu", "--data", str(tmp_path / "rav")])
    assert r.exit_code == 0, r.output
    assert "1 file(s)" in r.output and "take2.wav" in r.output


def test_a_checkpoint_that_cannot_be_written_is_exit_6_naming_the_folder(synthetic_manifest,
                                                                          tiny_whisper, tmp_path,
                                                                          monkeypatch):
    # a full disk at the end of training escaped as "internal error: OSError" (exit 70)
    import errno

    import speechbudget.tasks.ser.checkpoint as checkpoint

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(checkpoint, "write_atomic", full_disk)
    out = tmp_path / "ck"
    r = _train("--device", "cpu", "--model", str(tiny_whisper), "--arch", "tiny.en", "--data",
               str(synthetic_manifest), "--duration", "1", "--folds", "3", "--epochs", "1",
               "--out", str(out))
    _one_line_error(r, 6, f"{out}: cannot write the checkpoint (No space left on device)")
    assert not (out / "ser_config.json").exists()
