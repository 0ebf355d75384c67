"""`sweep calibrate -o FILE`: a write that fails after the up-front check of --out (as root under
/proc the check passes; here the folder is replaced by a file while the timing runs) is
OutputError naming --out, exit 6, not the OS's bare message with exit 2."""
import types

from typer.testing import CliRunner

import speechbudget.sweep.timing as timing
from speechbudget.cli import app


def test_a_write_failing_after_the_timing_is_exit_6_naming_out(tmp_path, monkeypatch):
    folder = tmp_path / "calib"
    folder.mkdir()
    out = folder / "time.json"

    def calibrate(models, data, items, batch_sizes, device, progress=None):
        folder.rmdir()           # the check passed; now the write cannot go there
        folder.write_text("a file where the folder was")
        return types.SimpleNamespace(to_dict=lambda: {"calibration": "fake"},
                                     calibration="fake")

    monkeypatch.setattr(timing, "calibrate_time_model", calibrate)
    r = CliRunner().invoke(app, ["sweep", "calibrate", "--models", "tiny.en", "--items", "1",
                                 "--batch-sizes", "1", "--device", "cpu",
                                 "--data", str(tmp_path / "m.jsonl"), "-o", str(out)])
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.exit_code == 6, r.stderr
    assert lines == [f"error: --out {out}: cannot write (Not a directory)"], r.stderr


def test_the_written_calibration_is_the_models(tmp_path, monkeypatch):
    out = tmp_path / "time.json"
    monkeypatch.setattr(timing, "calibrate_time_model",
                        lambda *a, **k: types.SimpleNamespace(to_dict=lambda: {"x": 1},
                                                              calibration="fake"))
    r = CliRunner().invoke(app, ["sweep", "calibrate", "--models", "tiny.en", "--items", "1",
                                 "--batch-sizes", "1", "--device", "cpu",
                                 "--data", str(tmp_path / "m.jsonl"), "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    assert out.read_text() == '{\n "x": 1\n}' and f"wrote {out}: fake" in r.stdout
