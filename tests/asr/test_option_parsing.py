"""The transcription options' numbers given as text (`--clip-timestamps`, `--temperature`, the
thresholds, `--hallucination-silence-threshold`, a `clip_timestamps` string): read by the one
parser `typed_numbers.plain_number`. Python's float() also reads `1_0` (as 10), other scripts' digits,
`nan`, `inf` and `1e400`; `--clip-timestamps 1_0` decoded the clip 0-10 s. Each is now one usage
line naming the option and the value, exit 2, before any model loads (the tests give a model
folder that does not exist: a value that got through would end in its exit 5 instead)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from speechbudget.axes import ConfigError
from speechbudget.tasks.asr.options import check_clip_timestamps
from speechbudget.typed_numbers import plain_number
from tests.asr.conftest import run_transcribe_cli

# what float() reads but no one means as a time, a temperature or a threshold
ODD = ["1_0", "\u0661\u0662", "nan", "NaN", "inf", "-inf", "Infinity", " 1e400", "0x10", "1,5"]


@pytest.mark.parametrize("text, value", [("10", 10.0), (" 0.5 ", 0.5), (".5", 0.5), ("5.", 5.0),
                                         ("-1", -1.0), ("+2", 2.0), ("1e1", 10.0),
                                         ("2.5E-1", 0.25)])
def test_plain_numbers_read(text, value):
    assert plain_number(text) == value


@pytest.mark.parametrize("text", ODD + ["", "1e", "e1", ".", "1 0", "--1", "1.2.3"])
def test_odd_spellings_refused(text):
    with pytest.raises(ValueError) as e:
        plain_number(text)
    assert repr(text.strip()) in str(e.value) or repr(text) in str(e.value)


@pytest.mark.parametrize("clips", ["1_0", "0,1_0", "\u0661\u0662", "0,nan", "0,inf", " 1e400",
                                   ["0", "1_0"], [0.0, math.nan], [0, math.inf],
                                   [np.float32("nan")], (0, -math.inf)])
def test_clip_timestamps_api_refuses(clips):
    with pytest.raises(ConfigError, match="clip_timestamps"):
        check_clip_timestamps(clips)


def test_clip_timestamps_api_keeps_numbers():
    assert check_clip_timestamps([0, 10.5, np.float32(20), np.int64(30)]) == (0.0, 10.5, 20.0,
                                                                                30.0)
    assert check_clip_timestamps(" 0 , 1e1 ,12.") == (0.0, 10.0, 12.0)
    assert check_clip_timestamps("0") is None


def cli(tmp_path, *args):
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"")   # never read: every case stops before (or at) the model
    return run_transcribe_cli([str(wav), "--model", str(tmp_path / "no-model"), *args])


CASES = [("--clip-timestamps", v) for v in ["1_0", "0,1_0", "\u0661\u0662", "0,nan", "-inf",
                                             " 1e400", "0x10"]] + \
    [("--temperature", v) for v in ["0,0_5", "\u0661", "0,inf", "1e400"]] + \
    [("--compression-ratio-threshold", v) for v in ["2_4", "\u0662", "nan", "inf"]] + \
    [("--logprob-threshold", v) for v in ["-1_0", "-inf", "nan"]] + \
    [("--no-speech-threshold", v) for v in ["0_6", "\u0660.5", "nan"]] + \
    [("--hallucination-silence-threshold", v) for v in ["1_0", "\u0661", "nan", "inf", "1e400"]]


@pytest.mark.parametrize("flag, value", CASES)
def test_cli_refuses_odd_numbers(tmp_path, flag, value):
    extra = ["--word-timestamps"] if flag == "--hallucination-silence-threshold" else []
    r = cli(tmp_path, flag, value, *extra)
    assert r.exit_code == 2, r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("Error")]
    assert len(errors) == 1, r.output
    assert flag in errors[0] and repr(value.strip()) in errors[0], errors[0]


@pytest.mark.parametrize("args", [["--clip-timestamps", "0, 10.5,20,3e1"],
                                  ["--temperature", "0,.2,1"],
                                  ["--compression-ratio-threshold", "2.4"],
                                  ["--logprob-threshold", "-1"],
                                  ["--no-speech-threshold", "off"],
                                  ["--hallucination-silence-threshold", "2", "--word-timestamps"]])
def test_cli_plain_numbers_reach_the_model(tmp_path, args):
    r = cli(tmp_path, *args)
    assert r.exit_code == 5 and "no-model" in r.output, r.output


@pytest.mark.parametrize("flag, value", [("--timestamps", "bogus"), ("--timestamps", "ON"),
                                         ("--longform", "bogus"), ("--longform", "")])
def test_cli_refuses_a_bad_choice_before_the_model_loads(tmp_path, flag, value):
    """--timestamps / --longform were checked only by WhisperModel.transcribe_batch, once the
    model had loaded (a missing model's exit 5 came first; tiny.en loaded for nothing, then a
    line naming the field `timestamps`, not the flag)."""
    r = cli(tmp_path, flag, value)
    assert r.exit_code == 2, r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("Error")]
    assert len(errors) == 1 and flag in errors[0] and repr(value) in errors[0], r.output
