"""A clip whose model output is not finite (inf/NaN: an overflow in its features or the model)
is a failed item naming its file, never a prediction: argmax of NaN is 0, so it was scored as
the first label (ANG) with NaN probabilities, ok=True, in ser train, ser eval and sweeps."""
from __future__ import annotations

import json

from typer.testing import CliRunner

import speechbudget.tasks.ser.api as api
import speechbudget.tasks.ser.scoring as scoring
from speechbudget.cli import app


def _nan_for_the_first_clip(monkeypatch):
    real = scoring.predict_logits

    def predict(model, clips, *a, **k):
        out = real(model, clips, *a, **k)
        out[0] = float("nan")
        return out
    # `ser train` scores its held-out fold in api.train; `ser eval` and sweeps in scoring
    monkeypatch.setattr(api, "predict_logits", predict)
    monkeypatch.setattr(scoring, "predict_logits", predict)


def test_train_and_eval_leave_a_non_finite_clip_unscored(synthetic_manifest, tiny_whisper,
                                                        tmp_path, monkeypatch):
    _nan_for_the_first_clip(monkeypatch)
    cli = CliRunner()
    common = ["--no-progress", "--device", "cpu"]
    r = cli.invoke(app, ["ser", "train", *common, "--model", str(tiny_whisper), "--arch",
                         "tiny.en", "--data", str(synthetic_manifest), "--duration", "1",
                         "--folds", "3", "--out", str(tmp_path / "ck")])
    assert r.exit_code == 1, r.output   # a clip could not be scored, checkpoint written
    assert "not finite" in r.output
    meta = json.loads((tmp_path / "ck" / "ser_config.json").read_text())
    assert meta["test"]["n"] == len(meta["test_ids"]) - 1
    r = cli.invoke(app, ["ser", "eval", *common, str(tmp_path / "ck"), "--data",
                         str(synthetic_manifest), "--held-out", "--json"])
    assert r.exit_code == 1, r.output
    def strict(name):
        raise AssertionError(f"{name} in the JSON output")
    items = json.loads(r.stdout, parse_constant=strict)["items"]   # no NaN probabilities
    bad = [i for i in items if not i["ok"]]
    assert len(bad) == 1 and "not finite" in bad[0]["error"] and bad[0]["prediction"] is None
