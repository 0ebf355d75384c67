"""Bad command-line values found by fuzzing the command line: each is one line on stderr and a
documented exit code (speechbudget/errors.py), never exit 70 or a hang."""
import os

import pytest
from typer.testing import CliRunner

from speechbudget.cli import app


def _invoke(*args: str):
    r = CliRunner().invoke(app, list(args))
    return r, [line for line in r.stderr.splitlines() if line.strip()]


@pytest.mark.parametrize("args", [
    ("runs", "list", "{long}"),
    ("report", "{tmp}/runs.db", "-o", "{tmp}/{long}"),
    ("sweep", "plan", "{long}"),
    ("asr", "eval", "--data={long}", "--device", "cpu"),
])
def test_a_path_too_long_for_the_system_is_exit_2_naming_it(tmp_path, args):
    long = "x" * 300  # one name over 255 bytes: ENAMETOOLONG from the OS
    args = [a.format(long=long, tmp=tmp_path) for a in args]
    r, lines = _invoke(*args)
    assert r.exit_code == 2, r.stderr
    assert len(lines) == 1 and "file name too long" in lines[0], r.stderr
    assert "x" * 40 in lines[0] and long not in lines[0]  # its start, not all of it
    option = next((a.split("=")[0] for a in args if a.startswith("-")), None)
    if option:
        assert lines[0].startswith(f"error: {option} ")


def test_calibrate_refuses_a_fifo_out_before_the_work(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # as /dev/null: a file written over it would replace it
    r, lines = _invoke("sweep", "calibrate", "--models", "tiny.en", "--items", "1",
                       "--batch-sizes", "1", "--device", "cpu", "-o", str(fifo))
    assert r.exit_code == 6, r.stderr
    assert len(lines) == 1 and lines[0].startswith(f"error: --out {fifo}:"), r.stderr
    assert not fifo.is_file() and fifo.exists()


@pytest.mark.parametrize("device", ["nan", " ", "/dev/null"])
def test_calibrate_bad_device_is_exit_2_naming_it(device):
    r, lines = _invoke("sweep", "calibrate", "--models", "tiny.en", "--items", "1",
                       "--batch-sizes", "1", "--device", device)
    assert r.exit_code == 2, r.stderr
    assert len(lines) == 1 and "device" in lines[0] and device.strip() in lines[0], r.stderr


def test_a_fifo_time_model_is_refused_not_read(tmp_path):
    import threading

    from speechbudget.axes import ConfigError
    from speechbudget.sweep.timing import load_time_model
    fifo = tmp_path / "tm.json"
    os.mkfifo(fifo)
    done = threading.Event()

    def feed():  # so that reading it (the defect) ends instead of blocking the test
        while not done.is_set():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                done.wait(0.01)
                continue
            os.write(fd, b"{}")
            os.close(fd)
            return
    t = threading.Thread(target=feed, daemon=True)
    t.start()
    try:
        with pytest.raises(ConfigError, match="FIFO"):
            load_time_model(fifo)
    finally:
        done.set()
