"""A checkpoint whose ser_config.json `labels` was edited by hand: a label outside the six
(`ser train` always writes the six shared emotions, in the order of `data.LABELS`: the head's
outputs in that order; there is no other label set), a label twice, or a list shorter or longer
than the head's outputs. Loaded before, with predictions naming the invented label (or exit 5
naming torch's size mismatch for the count); now one line naming the file and the field, exit 5
(docs/ser.md: a damaged checkpoint)."""
from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app
from speechbudget.tasks.ser.data import LABELS


@pytest.fixture(scope="module")
def checkpoint(synthetic_manifest, tiny_whisper, tmp_path_factory):
    out = tmp_path_factory.mktemp("ck_labels") / "ck"
    r = CliRunner().invoke(app, ["ser", "train", "--no-progress", "--device", "cpu", "--model",
                                 str(tiny_whisper), "--arch", "tiny.en", "--data",
                                 str(synthetic_manifest), "--duration", "1", "--folds", "3",
                                 "--epochs", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def _with_labels(checkpoint, tmp_path, labels):
    d = shutil.copytree(checkpoint, tmp_path / "edited")
    meta = json.loads((d / "ser_config.json").read_text())
    meta["labels"] = labels
    (d / "ser_config.json").write_text(json.dumps(meta))
    return d


def _eval(d, manifest):
    return CliRunner().invoke(app, ["ser", "eval", "--no-progress", "--device", "cpu", str(d),
                                    "--data", str(manifest), "--held-out"])


CASES = {
    "unknown": (list(LABELS[:-1]) + ["XYZ"], "'XYZ' is not one of the labels"),
    "twice": (list(LABELS[:-1]) + ["ANG"], "'ANG' appears twice"),
    "fewer": (list(LABELS[:-1]), "5 labels for the head's 6 outputs"),
    "more": (list(LABELS) + ["XYZ"], "'XYZ' is not one of the labels"),
    "order": (list(reversed(LABELS)), "not the six labels in the order ser train writes"),
    "not_a_list": ("ANG", "expected a list of label names"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_edited_labels_are_refused(checkpoint, synthetic_manifest, tmp_path, case):
    labels, says = CASES[case]
    d = _with_labels(checkpoint, tmp_path, labels)
    r = _eval(d, synthetic_manifest)
    assert r.exit_code == 5, r.output
    assert f"{d / 'ser_config.json'}: labels" in r.output, r.output
    assert says in r.output, r.output
    assert "Traceback" not in r.output


def test_the_saved_labels_load(checkpoint, synthetic_manifest, tmp_path):
    d = _with_labels(checkpoint, tmp_path, list(LABELS))
    r = _eval(d, synthetic_manifest)
    assert r.exit_code == 0, r.output
