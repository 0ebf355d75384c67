"""faster-whisper's prompt options (`initial_prompt`, `prefix`, `hotwords`) with the real tiny.en
on the shortest clips of data/librispeech_sample: the same first-window prompt as faster-whisper's
`get_prompt`, the same tokens as faster-whisper 1.2.1 with the same CTranslate2 weights (fp32,
greedy, no VAD, no conditioning; both cut each window out of the recording's log-mel, so the
features agree), a prefix forcing the first words, FLOPs counting the longer prompt, and the CLI
flags and their refusals."""
from __future__ import annotations

import json

import pytest

from speechbudget.axes import ConfigError
from tests.asr.conftest import faster_whisper_tiny_en, tiny_en_model

pytestmark = pytest.mark.slow

FW_OPTIONS = dict(beam_size=1, temperature=0.0, vad_filter=False, language="en")


@pytest.fixture(scope="module")
def model():
    return tiny_en_model()


@pytest.fixture(scope="module")
def fw():
    """faster-whisper on the same CTranslate2 folder as the bundled tiny.en."""
    return faster_whisper_tiny_en()


def fw_tokenizer(fw):
    from faster_whisper.tokenizer import Tokenizer
    return Tokenizer(fw.hf_tokenizer, multilingual=False, task="transcribe", language="en")


def pipeline(model, timestamps: str = "on", **prompts):
    from speechbudget.tasks.asr.pipeline import AsrPipeline
    return AsrPipeline(model.bundle, model.config.with_(timestamps=timestamps), "cpu",
                       model=model._model, **prompts)


def first_prompt(pipe, timestamps: bool) -> list[int]:
    """The first window's whole decoder prompt as the pipeline builds it."""
    dec = pipe.decoder_for(timestamps)
    w = pipe.window_prompt(True)
    before, forced = dec.opt.prompt_rows(1, [pipe.initial_tokens], [w["hotwords"]], [w["prefix"]])
    return before[0] + list(dec.opt.prompt_ids) + forced[0]


LONG = " ".join(f"word{i}" for i in range(150))   # > 223 tokens: the caps apply

PROMPT_CASES = [dict(initial_prompt="Eighteen-oh-three."), dict(prefix="Hello world"),
                dict(hotwords="Catherine Morland, bookseller"),
                dict(prefix="So", hotwords="Catherine"), dict(initial_prompt="", hotwords="x"),
                dict(initial_prompt="  Padded.  ", prefix="  Well,  "),
                dict(prefix=LONG), dict(hotwords=LONG), dict(initial_prompt=LONG)]


@pytest.mark.parametrize("ts", [True, False])
@pytest.mark.parametrize("case", PROMPT_CASES, ids=lambda c: "+".join(c))
def test_first_window_prompt_is_faster_whispers_get_prompt(model, fw, case, ts):
    tok = fw_tokenizer(fw)
    previous = []
    if case.get("initial_prompt") is not None:   # faster-whisper's all_tokens seed
        previous = tok.encode(" " + case["initial_prompt"].strip())
    theirs = fw.get_prompt(tok, previous, without_timestamps=not ts, prefix=case.get("prefix"),
                           hotwords=case.get("hotwords"))
    pipe = pipeline(model, "on" if ts else "off", **case)
    assert first_prompt(pipe, ts) == theirs


def test_prompt_longer_than_the_positions_is_cut_oldest_first(model, fw):
    """Hotwords and history both at their 223-token caps would leave no position to decode
    (faster-whisper builds that 449-token prompt anyway): the oldest history tokens go."""
    tok = fw_tokenizer(fw)
    pipe = pipeline(model, "off", initial_prompt=LONG + LONG, hotwords=LONG)
    prompt = first_prompt(pipe, False)
    theirs = fw.get_prompt(tok, pipe.initial_tokens, without_timestamps=True, hotwords=LONG)
    assert len(theirs) == 449 and len(prompt) == 448 - 1
    assert prompt == theirs[:224] + theirs[226:]    # two oldest history tokens left out


@pytest.mark.parametrize("timestamps", ["on", "off"])
@pytest.mark.parametrize("case", [dict(initial_prompt="Eighteen-oh-three, bookseller."),
                                  dict(prefix="Hello world"),
                                  dict(hotwords="Catherine Morland, bookseller")],
                         ids=lambda c: "+".join(c))
def test_same_tokens_as_faster_whisper(model, fw, short_clips, case, timestamps):
    ours = model.transcribe_batch(short_clips, timestamps=timestamps, **case)
    for audio, (segs, info) in zip(short_clips, ours):
        theirs, _ = fw.transcribe(audio, without_timestamps=timestamps == "off",
                                  condition_on_previous_text=False, **FW_OPTIONS, **case)
        theirs = list(theirs)
        assert [s.tokens for s in segs] == [list(s.tokens) for s in theirs]
        assert [s.text for s in segs] == [s.text.strip() for s in theirs]
        assert [s.start for s in segs] == pytest.approx([s.start for s in theirs], abs=1e-3)


def test_same_tokens_as_faster_whisper_across_windows(model, fw, bundled_librispeech):
    """A 40 s recording: the prefix on the first window only, hotwords on the later ones, and
    the initial prompt then the kept text conditioning every window."""
    from speechbudget.tasks.asr.data import load_dataset
    audio, _, _ = load_dataset(bundled_librispeech).joined(35.0)
    case = dict(initial_prompt="Chapter one.", prefix="This", hotwords="Catherine Morland",
                condition_on_previous_text=True)
    segs, info = model.transcribe(audio, **case)
    theirs, _ = fw.transcribe(audio, **FW_OPTIONS, **case)
    theirs = list(theirs)
    assert info.windows >= 2
    assert [s.tokens for s in segs] == [list(s.tokens) for s in theirs]


def test_prefix_forces_the_first_words_and_no_option_changes_nothing(model, short_clips):
    plain = model.transcribe_batch(short_clips)
    off = model.transcribe_batch(short_clips, initial_prompt=None, prefix="", hotwords="")
    assert [[(s.start, s.end, s.tokens) for s in segs] for segs, _ in off] == \
        [[(s.start, s.end, s.tokens) for s in segs] for segs, _ in plain]
    assert [i.gflops for _, i in off] == [i.gflops for _, i in plain]
    forced = model.transcribe_batch(short_clips, prefix="Hello world", timestamps="off")
    for (segs, info), (base, _) in zip(forced, plain):
        assert info.text.startswith("Hello world")
        assert not base[0].text.startswith("Hello world")
        ids = model.bundle.tokenizer.encode(" Hello world", add_special_tokens=False)
        assert segs[0].tokens[:len(ids)] == ids


@pytest.mark.parametrize("timestamps", ["on", "off"])
def test_flops_count_the_prompt_faster_whisper_builds(model, fw, short_clips, timestamps):
    from speechbudget.flops.estimate import estimate
    from speechbudget.geometry import MEL_FRAMES_PER_S
    tok = fw_tokenizer(fw)
    case = dict(initial_prompt="Eighteen-oh-three.", prefix="Well, this")
    ts = timestamps == "on"
    theirs = fw.get_prompt(tok, tok.encode(" Eighteen-oh-three."), without_timestamps=not ts,
                           prefix=case["prefix"])
    pipe = pipeline(model, timestamps, **case)
    tr = pipe.transcribe_items([("a", short_clips[0])], batch_size=1)["a"]
    [row] = tr.windows
    assert row.prompt_tokens == len(theirs)
    cfg = pipe.config.with_(window=row.frames / MEL_FRAMES_PER_S, timestamps="auto", beam_size=1)
    # the prefix's tokens run in the prompt pass: decoded are the tokens after it, eos included
    n_prefix = len(theirs) - len(tok.encode(" Eighteen-oh-three.")) - 1 - \
        len(pipe.decoder_for(ts).opt.prompt_ids)
    decoded = len(row.tokens) - n_prefix + 1
    assert row.decode_steps == decoded
    want = estimate(cfg, decoded_tokens=decoded, prompt_tokens=len(theirs),
                    no_speech_head=True).total / 1e9
    from speechbudget.tasks.asr.windows import window_gflops
    assert window_gflops(pipe.config, row) == pytest.approx(want, rel=1e-12)
    plain = pipeline(model, timestamps).transcribe_items([("a", short_clips[0])], 1)["a"].windows[0]
    assert plain.prompt_tokens < row.prompt_tokens


def test_values_that_are_not_text_are_refused(model, short_clips):
    for name, value in (("prefix", ["Hello"]), ("initial_prompt", [1, 2]), ("hotwords", b"x"),
                        ("prefix", 3)):
        with pytest.raises(ConfigError, match=f"invalid {name}=.*a string of text"):
            model.transcribe(short_clips[0], **{name: value})
    with pytest.raises(ConfigError, match="invalid hotwords=.*special tokens.*endoftext"):
        model.transcribe(short_clips[0], hotwords="a <|endoftext|> b")


def test_cli_flags(bundled_librispeech, tmp_path):
    from typer.testing import CliRunner

    from speechbudget.cli.app import app
    rows = [json.loads(x) for x in (bundled_librispeech / "manifest.jsonl").read_text()
            .splitlines() if x.strip()]
    clip = str(bundled_librispeech / min(rows, key=lambda r: r["duration_s"])["audio"])
    cli = CliRunner()
    res = cli.invoke(app, ["transcribe", clip, "--device", "cpu", "--no-progress", "--format",
                           "json", "--prefix", "Hello world", "--hotwords", "Morland",
                           "--initial-prompt", "A story."])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["segments"][0]["text"].startswith("Hello world")
    for flag in ("--prefix", "--hotwords", "--initial-prompt"):
        res = cli.invoke(app, ["transcribe", clip, "--device", "cpu", "--no-progress", flag,
                               "<|endoftext|>"])
        assert res.exit_code == 2
        errors = [ln for ln in res.output.splitlines() if ln.startswith("Error")]
        assert len(errors) == 1 and f"for {flag}:" in errors[0] and "special token" in errors[0]
