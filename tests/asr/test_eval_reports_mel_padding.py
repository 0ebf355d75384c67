"""`asr eval --mel-padding silence` ran with the silence padding but its output did not say so:
the JSON (`--json`, `-o`) held the same `config` as with zeros and the table the same title, so
two result files of different features could not be told apart. The JSON now has `mel_padding`
and the table's title names a padding other than the default."""
import json

from typer.testing import CliRunner


def _run(monkeypatch, tmp_path, *extra):
    import speechbudget.tasks.asr.runner as runner
    from speechbudget.cli import app
    from speechbudget.records import ConfigMetrics

    def fake_evaluate(cfg, ds, device=None, task=None, **k):
        return ConfigMetrics(cfg.key, "asr", "wer", 0.0, ci_low=0.0, ci_high=0.0,
                             n_items=1, gflops=1.0, rtf=0.1, rtfx=10.0,
                             extra={"threads": 1, "failures": [], "encoder_ms_per_utt": 1.0,
                                    "decoder_ms_per_utt": 1.0}), []

    monkeypatch.setattr(runner, "evaluate", fake_evaluate)
    monkeypatch.setenv("COLUMNS", "250")
    (tmp_path / "manifest.jsonl").write_text('{"audio": "a.wav", "text": "hi"}\n')
    return CliRunner().invoke(app, ["asr", "eval", "--data", str(tmp_path), "--device", "cpu",
                                    "--no-progress", *extra])


def test_json_names_the_padding(monkeypatch, tmp_path):
    for padding in ("silence", "zeros"):
        r = _run(monkeypatch, tmp_path, "--mel-padding", padding, "--json")
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["mel_padding"] == padding


def test_table_names_a_padding_other_than_the_default(monkeypatch, tmp_path):
    r = _run(monkeypatch, tmp_path, "--mel-padding", "silence")
    assert r.exit_code == 0, r.output
    assert "mel padding silence" in " ".join(r.output.split())
    r = _run(monkeypatch, tmp_path)
    assert r.exit_code == 0, r.output
    assert "mel padding" not in r.output
