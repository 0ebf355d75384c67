"""`ser train` / `ser eval` on bad inputs: each is one line on stderr and the exit code of
docs/security.md ("Errors and exit codes"), with nothing half-written and nothing silently wrong."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app


def _train(*args: str):
    return CliRunner().invoke(app, ["ser", "train", "--no-progress", "--device", "cpu", *args])


@pytest.mark.parametrize("fold", ["3", "-1", "-4"])
def test_ser_train_fold_out_of_range_is_a_usage_error(synthetic_manifest, tmp_path, fold):
    # 3 folds: --fold 3 was an IndexError (exit 70), --fold -1 a misleading speaker-overlap
    # error (exit 3)
    r = _train("--data", str(synthetic_manifest), "--folds", "3", f"--fold={fold}",
               "--out", str(tmp_path / "ck"))
    assert r.exit_code == 2, r.output
    assert f"fold={fold}" in r.output and "0..2" in r.output
    assert not (tmp_path / "ck").exists()


def _eval(*args: str):
    return CliRunner().invoke(app, ["ser", "eval", "--no-progress", "--device", "cpu", *args])


def _tiny(tiny_whisper, manifest, out, *extra: str):
    r = _train("--model", str(tiny_whisper), "--arch", "tiny.en", "--data", str(manifest),
               "--duration", "1", "--folds", "3", "--epochs", "1", "--out", str(out), *extra)
    assert r.exit_code == 0, r.output
    return out


def test_ser_train_out_that_is_a_file_is_refused_before_training(synthetic_manifest, tmp_path):
    (tmp_path / "f").write_text("keep")
    for out in (tmp_path / "f", tmp_path / "f" / "ck"):  # was exit 70 after all the training
        r = _train("--data", str(synthetic_manifest), "--out", str(out))
        assert r.exit_code == 6, r.output
        assert str(out) in r.output and "training" not in r.output
    assert (tmp_path / "f").read_text() == "keep"


def test_a_frozen_checkpoint_saved_over_an_adapted_one_scores_as_trained(
        synthetic_manifest, tiny_whisper, tmp_path):
    import json
    # the adapted run's backbone.safetensors stayed and was loaded into the frozen backbone:
    # `ser eval` then scored another model than the one trained, with exit 0
    over = _tiny(tiny_whisper, synthetic_manifest, tmp_path / "ck", "--unfreeze-top", "1")
    assert (over / "backbone.safetensors").exists()
    _tiny(tiny_whisper, synthetic_manifest, over)
    fresh = _tiny(tiny_whisper, synthetic_manifest, tmp_path / "fresh")
    assert not (over / "backbone.safetensors").exists()
    probs = []
    for ck in (over, fresh):
        r = _eval(str(ck), "--data", str(synthetic_manifest), "--held-out", "--json")
        assert r.exit_code == 0, r.output
        probs.append([i["extra"]["probs"] for i in json.loads(r.stdout)["items"]])
    assert probs[0] == probs[1]


def test_a_damaged_checkpoint_is_a_model_file_error(synthetic_manifest, tiny_whisper, tmp_path):
    import shutil
    ck = _tiny(tiny_whisper, synthetic_manifest, tmp_path / "ck", "--adapt", "lora", "--rank",
               "2", "--head", "mlp")
    cases = {"no_backbone": lambda d: (d / "backbone.safetensors").unlink(),   # was exit 0
             "cut_head": lambda d: (d / "head.safetensors").write_bytes(       # was exit 70
                 (ck / "head.safetensors").read_bytes()[:100]),
             "cut_backbone": lambda d: (d / "backbone.safetensors").write_bytes(
                 (ck / "backbone.safetensors").read_bytes()[:1000])}
    for name, damage in cases.items():
        d = tmp_path / name
        shutil.copytree(ck, d)
        damage(d)
        r = _eval(str(d), "--data", str(synthetic_manifest))
        assert r.exit_code == 5, (name, r.output)
        assert str(d) in r.output and "Traceback" not in r.output


def test_ser_eval_held_out_needs_a_checkpoint(synthetic_manifest, tiny_whisper, tmp_path):
    import json
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "ser_config.json").write_text("{")
    for d in ("empty", "missing", "broken"):  # were FileNotFoundError / JSONDecodeError, exit 70
        r = _eval(str(tmp_path / d), "--data", str(synthetic_manifest), "--held-out")
        assert r.exit_code == 5, (d, r.output)
        assert str(tmp_path / d) in r.output and "internal error" not in r.output
    # a checkpoint without its held-out ids: --held-out scored every clip, training clips too
    ck = _tiny(tiny_whisper, synthetic_manifest, tmp_path / "ck")
    meta = json.loads((ck / "ser_config.json").read_text())
    del meta["test_ids"]
    (ck / "ser_config.json").write_text(json.dumps(meta))
    r = _eval(str(ck), "--data", str(synthetic_manifest), "--held-out")
    assert r.exit_code == 5 and "test_ids" in r.output, r.output


def test_ser_eval_out_is_checked_before_scoring(synthetic_manifest, tmp_path):
    (tmp_path / "f").write_text("keep")
    # no checkpoint at all: the output is refused first (was exit 70 after scoring)
    for out in (tmp_path, tmp_path / "f" / "x.json"):
        r = _eval(str(tmp_path / "none"), "--data", str(synthetic_manifest), "-o", str(out))
        assert r.exit_code == 6, r.output
        assert "--out" in r.output


def test_ser_eval_with_no_readable_clip_is_a_data_error(synthetic_manifest, tiny_whisper,
                                                        tmp_path):
    import json
    ck = _tiny(tiny_whisper, synthetic_manifest, tmp_path / "ck")
    rows = [json.loads(line) for line in synthetic_manifest.read_text().splitlines()]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps({**r, "audio": "nowhere.wav"}) + "\n" for r in rows))
    r = _eval(str(ck), "--data", str(bad))  # was a ValueError, exit 70
    assert r.exit_code == 3, r.output
    assert str(bad) in r.output and "nowhere.wav" in r.output


def _rows(manifest):
    import json
    return [json.loads(line) for line in manifest.read_text().splitlines()]


def _write(path, rows):
    import json
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("speaker", [None, "", "  ", [], {}])
def test_a_manifest_speaker_that_is_no_speaker_names_the_line(synthetic_manifest, tmp_path,
                                                              speaker):
    from speechbudget.errors import DatasetError
    from speechbudget.tasks.ser.data import load_dataset
    rows = _rows(synthetic_manifest)
    rows[2]["speaker"] = speaker  # null was read as the speaker "None", one more actor
    m = _write(tmp_path / "m.jsonl", [{**r, "audio": str(synthetic_manifest.parent / r["audio"])}
                                      for r in rows])
    with pytest.raises(DatasetError, match=r"m\.jsonl:3: speaker: "):
        load_dataset(m)


def test_ser_train_on_training_clips_of_one_label_or_none_readable(synthetic_manifest,
                                                                   tiny_whisper, tmp_path):
    rows = [{**r, "audio": str(synthetic_manifest.parent / r["audio"])}
            for r in _rows(synthetic_manifest)]
    one = _write(tmp_path / "one.jsonl", [{**r, "label": "ANG"} for r in rows])
    none = _write(tmp_path / "none.jsonl", [{**r, "audio": "nowhere.wav"} for r in rows])
    for data, says in ((one, "all have label ANG"), (none, "no readable")):
        for head in ("linear", "mlp"):  # linear: sklearn's ValueError, exit 70; mlp: trained
            r = _train("--model", str(tiny_whisper), "--arch", "tiny.en", "--data", str(data),
                       "--duration", "1", "--folds", "3", "--epochs", "1", "--head", head,
                       "--out", str(tmp_path / "ck"))
            assert r.exit_code == 3, (data, head, r.output)
            assert says in r.output and str(data) in r.output


def test_ser_train_bad_seed_or_lora_target_is_a_usage_error(synthetic_manifest, tiny_whisper,
                                                            tmp_path):
    base = ["--model", str(tiny_whisper), "--arch", "tiny.en", "--data", str(synthetic_manifest),
            "--duration", "1", "--folds", "3", "--epochs", "1", "--out", str(tmp_path / "ck")]
    r = _train(*base, "--seed", "-1")  # numpy's default_rng raised, exit 70
    assert r.exit_code == 2 and "seed=-1" in r.output, r.output
    r = _train(*base, "--adapt", "lora", "--rank", "2", "--targets", "q_proj,nothing")
    assert r.exit_code == 2, r.output  # was a ValueError, exit 70
    assert "adaptation.targets" in r.output and "nothing" in r.output and "q_proj" in r.output
    assert not (tmp_path / "ck").exists()


@pytest.mark.parametrize("text", ["{", "[]", "\xff"])
def test_ser_train_model_folder_with_an_unreadable_config_json(synthetic_manifest, tmp_path,
                                                               text):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_bytes(text.encode("latin-1"))
    for arch in ([], ["--arch", "tiny.en"]):  # JSONDecodeError / AttributeError, exit 70
        r = _train("--model", str(folder), *arch, "--data", str(synthetic_manifest),
                   "--duration", "1", "--folds", "3", "--out", str(tmp_path / "ck"))
        assert r.exit_code == 5, (arch, r.output)
        assert str(folder / "config.json") in r.output and "internal error" not in r.output


def test_a_duplicate_manifest_id_names_both_lines(synthetic_manifest, tmp_path):
    from speechbudget.errors import DatasetError
    from speechbudget.tasks.ser.data import load_dataset
    rows = [{**r, "audio": str(synthetic_manifest.parent / r["audio"])}
            for r in _rows(synthetic_manifest)]
    rows.insert(5, dict(rows[1]))  # line 6 repeats line 2; the error named neither line
    with pytest.raises(DatasetError, match=r"m\.jsonl:6: id: clip id .* also on line 2"):
        load_dataset(_write(tmp_path / "m.jsonl", rows))


def test_clips_that_cannot_be_read_make_train_and_eval_exit_1(synthetic_manifest, tiny_whisper,
                                                              tmp_path):
    # docs/security.md: exit 1 means it ran but items failed (as `asr eval`); both exited 0
    import json
    rows = [{**r, "audio": str(synthetic_manifest.parent / r["audio"])}
            for r in _rows(synthetic_manifest)]
    rows[0]["audio"] = str(tmp_path / "gone.wav")  # one clip in every fold's role, unreadable
    m = _write(tmp_path / "m.jsonl", rows)
    args = ("--model", str(tiny_whisper), "--arch", "tiny.en", "--data", str(m), "--duration",
            "1", "--folds", "3", "--epochs", "1")
    r = _train(*args, "--out", str(tmp_path / "ck"))
    assert r.exit_code == 1, r.output
    assert "1 clip(s) skipped" in r.output and "--allow-failures" in r.output
    assert (tmp_path / "ck" / "ser_config.json").is_file()  # the work is kept
    assert _train(*args, "--out", str(tmp_path / "ck2"), "--allow-failures").exit_code == 0
    for extra in ((), ("--json",)):
        r = _eval(str(tmp_path / "ck"), "--data", str(m), *extra)
        assert r.exit_code == 1, r.output
        assert "1 clip(s) failed" in r.output
        if extra:
            assert json.loads(r.stdout)["metrics"]  # stdout stays one JSON document
        assert _eval(str(tmp_path / "ck"), "--data", str(m), "--allow-failures",
                     *extra).exit_code == 0


def test_held_out_on_another_dataset_says_so(synthetic_manifest, tiny_whisper, tmp_path):
    # it said "no clip with id 's2_ANG_0'" without saying the id is the checkpoint's
    ck = _tiny(tiny_whisper, synthetic_manifest, tmp_path / "ck")
    rows = [{**r, "id": "other_" + r["id"], "audio": str(synthetic_manifest.parent / r["audio"])}
            for r in _rows(synthetic_manifest)]
    other = _write(tmp_path / "other.jsonl", rows)
    r = _eval(str(ck), "--data", str(other), "--held-out")
    assert r.exit_code == 3, r.output
    assert "held-out clips are not in it" in " ".join(r.output.split())


def test_a_checkpoint_loads_on_any_device_spelling_torch_takes(synthetic_manifest, tiny_whisper,
                                                               tmp_path):
    # --device cpu:0 passed the device check, trained, then `ser eval --device cpu:0` said the
    # checkpoint's weights cannot be loaded (SafetensorError: device cpu:0 is invalid), exit 5
    ck = _tiny(tiny_whisper, synthetic_manifest, tmp_path / "ck", "--unfreeze-top", "1")
    r = CliRunner().invoke(app, ["ser", "eval", "--no-progress", "--device", "cpu:0", str(ck),
                                 "--data", str(synthetic_manifest), "--held-out"])
    assert r.exit_code == 0, r.output


def test_a_checkpoint_that_cannot_be_written_after_training_keeps_the_scores(
        synthetic_manifest, tiny_whisper, tmp_path, monkeypatch):
    # the folder passed the check before training; the write failed after it (a full disk):
    # exit 6 with one line, and the held-out scores computed were never shown
    import speechbudget.tasks.ser.api as api
    from speechbudget.errors import OutputError

    def full_disk(*a, **k):
        raise OutputError(f"{tmp_path / 'ck'}: cannot write the checkpoint (No space left on "
                          "device)")
    monkeypatch.setattr(api, "save_checkpoint", full_disk)
    r = _train("--model", str(tiny_whisper), "--arch", "tiny.en", "--data",
               str(synthetic_manifest), "--duration", "1", "--folds", "3",
               "--out", str(tmp_path / "ck"))
    assert r.exit_code == 6, r.output
    assert "held-out fold 0" in r.output and "UA" in r.output
    assert r.output.strip().splitlines()[-1].startswith("error: ")
    assert "No space left on device" in r.output and "Traceback" not in r.output


def test_a_backbone_folder_that_is_gone_is_named_as_such(synthetic_manifest, tiny_whisper,
                                                         tmp_path):
    import shutil
    # both said "unknown model '/x': expected one of tiny.en, tiny, ... or their hub ids"
    r = _train("--model", str(tmp_path / "missing"), "--arch", "tiny.en", "--data",
               str(synthetic_manifest), "--out", str(tmp_path / "ck0"))
    assert r.exit_code == 5, r.output
    assert "no such folder" in r.output and "unknown model" not in r.output
    model = shutil.copytree(tiny_whisper, tmp_path / "model")
    ck = _tiny(model, synthetic_manifest, tmp_path / "ck")
    model.rename(tmp_path / "moved")
    r = _eval(str(ck), "--data", str(synthetic_manifest))
    assert r.exit_code == 5, r.output
    assert f"the backbone it was trained on, {model}, is no longer a folder" in r.output


def test_a_head_of_another_backbone_is_named_as_such(synthetic_manifest, tiny_whisper, tmp_path):
    # a head.safetensors copied from a checkpoint of another backbone was torch's size-mismatch
    # list for SerHead, cut at 300 characters
    import torch
    from safetensors.torch import load_file, save_file
    ck = _tiny(tiny_whisper, synthetic_manifest, tmp_path / "ck")
    head = load_file(str(ck / "head.safetensors"))
    n, width = head["feature_mean"].shape
    head["feature_mean"] = torch.zeros(n + 2, 2 * width)
    head["feature_std"] = torch.ones(n + 2, 2 * width)
    save_file(head, str(ck / "head.safetensors"))
    r = _eval(str(ck), "--data", str(synthetic_manifest))
    assert r.exit_code == 5, r.output
    assert (f"head.safetensors: a head for {n + 2} hidden states of width {2 * width}, but the "
            f"checkpoint's backbone") in r.output and "another backbone" in r.output


@pytest.mark.parametrize("version", [2, 99, "1", None, 0])
def test_a_checkpoint_of_an_unknown_version_is_refused(synthetic_manifest, tiny_whisper,
                                                       tmp_path, version):
    # ser_config.json's version was never read: a checkpoint of a newer layout was loaded as
    # version 1's, with exit 0
    import json
    ck = _tiny(tiny_whisper, synthetic_manifest, tmp_path / "ck")
    meta = json.loads((ck / "ser_config.json").read_text())
    meta["version"] = version
    (ck / "ser_config.json").write_text(json.dumps(meta))
    r = _eval(str(ck), "--data", str(synthetic_manifest), "--held-out")
    assert r.exit_code == 5, r.output
    assert f"checkpoint version {version!r}; this speechbudget reads versions 1..1" in r.output
