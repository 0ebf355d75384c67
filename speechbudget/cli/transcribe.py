"""`speechbudget transcribe FILE...`: print Whisper transcripts (any window, stride, beam)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence

import typer

from speechbudget.cli.app import app
from speechbudget.cli.errors import err_line
from speechbudget.cli.options import float_option, int_option
from speechbudget.cli.output import shown
from speechbudget.cli.transcribe_options import (batched_options, check_choices, cue_options,
                                                 language_option, longform_options,
                                                 parse_temperatures, parse_threshold,
                                                 vad_setup)
from speechbudget.cli.transcribe_output import prepare_output_dir
from speechbudget.tasks.asr.options import (COMPRESSION_RATIO_THRESHOLD, LOGPROB_THRESHOLD,
                                            NO_SPEECH_THRESHOLD)


def transcribe_files(files: list[Path], model: str = "tiny.en", device: str | None = None,
                     window: str = "30", stride: int = 1, stride_at: str = "output",
                     pool: str = "mean", beam: int = 1, precision: str = "fp32",
                     batch_size: int = 8, timestamps: str = "on", longform: str = "sequential",
                     progress: Callable[[int, int], None] | None = None,
                     word_timestamps: bool = False, condition_on_previous_text: bool = False,
                     temperature: float | Sequence[float] = 0.0,
                     compression_ratio_threshold: float | None = COMPRESSION_RATIO_THRESHOLD,
                     logprob_threshold: float | None = LOGPROB_THRESHOLD,
                     no_speech_threshold: float | None = NO_SPEECH_THRESHOLD, best_of: int = 5,
                     initial_prompt: str | None = None, prefix: str | None = None,
                     hotwords: str | None = None, vad_filter: bool = False,
                     vad_parameters: dict[str, Any] | None = None,
                     clip_timestamps: str | Sequence[float] | None = None,
                     hallucination_silence_threshold: float | None = None,
                     batched: bool = False, vad_model: Any = None,
                     language: str | None = None, task: str = "transcribe",
                     language_detection_segments: int = 1,
                     language_detection_threshold: float = 0.5
                     ) -> list[tuple[Path, list | None, Any, str | None]]:
    """(file, segments or None, TranscriptionInfo or None, error or None) per file, in order,
    through `speechbudget.WhisperModel`; a bad file does not stop the others. Files are decoded
    `batch_size` recordings at a time (windows batched across them); `progress(done, total)`,
    if given, after each group, counting files (unreadable ones count when they are read).
    `word_timestamps`, `condition_on_previous_text`, `temperature` (one value or the fallback's
    increasing sequence), the thresholds, `best_of` and the prompt options (`initial_prompt`,
    `prefix`, `hotwords`), `vad_filter` / `vad_parameters`, `clip_timestamps` and
    `hallucination_silence_threshold`: as WhisperModel.transcribe (its defaults). `batched`:
    each file through `BatchedInferencePipeline` instead (`batch_size` chunks at a time; the
    options it does not use are refused by the command: `batched_options`). `vad_model`: the
    VAD's weights (WhisperModel's: None, "silero-vad", "faster-whisper", a file or a loaded
    SileroVad, used as it is). `language` (a code, or None: detected per file on a
    multilingual model), `task`, `language_detection_segments` and
    `language_detection_threshold`: as WhisperModel.transcribe (BatchedInferencePipeline's with
    `batched`: one detection per file, on its speech)."""
    from speechbudget.errors import SpeechbudgetError
    from speechbudget.tasks.asr.transcribe import as_audio
    from speechbudget.whisper_model import WhisperModel

    wm = WhisperModel(model, device=device, precision=precision, window=window, stride=stride,
                      stride_at=stride_at, pool=pool, vad_model=vad_model)
    out: dict = {}
    done = 0
    detection = dict(language_detection_segments=language_detection_segments,
                     language_detection_threshold=language_detection_threshold)
    for start in range(0, len(files), max(1, batch_size)):
        group = files[start:start + max(1, batch_size)]
        good = []
        for f in group:
            try:
                good.append((f, as_audio(f)))
            except SpeechbudgetError as e:  # AudioError: its message names the file
                out[f] = (None, None, str(e))
            except Exception as e:  # anything a decoder library raises
                out[f] = (None, None, f"{f}: {type(e).__name__}: {e}")
        if good and batched:
            res = [batched_one(wm, a, batch_size, beam, timestamps, word_timestamps, temperature,
                               initial_prompt, hotwords, vad_parameters, clip_timestamps,
                               language, task, detection=detection)
                   for _, a in good]
        elif good:
            res = wm.transcribe_batch([a for _, a in good], beam_size=beam,
                                      timestamps=timestamps, longform=longform,
                                      batch_size=batch_size, word_timestamps=word_timestamps,
                                      condition_on_previous_text=condition_on_previous_text,
                                      temperature=temperature,
                                      compression_ratio_threshold=compression_ratio_threshold,
                                      logprob_threshold=logprob_threshold,
                                      no_speech_threshold=no_speech_threshold, best_of=best_of,
                                      initial_prompt=initial_prompt, prefix=prefix,
                                      hotwords=hotwords, vad_filter=vad_filter,
                                      vad_parameters=vad_parameters,
                                      clip_timestamps=clip_timestamps,
                                      hallucination_silence_threshold=(
                                          hallucination_silence_threshold),
                                      language=language, task=task, **detection)
        if good:
            for (f, _), (segs, info) in zip(good, res):
                out[f] = (segs, info, None)
        done += len(group)
        if progress is not None:
            progress(done, len(files))
    return [(Path(f), *out[f]) for f in files]


def batched_one(wm: Any, audio: Any, batch_size: int, beam: int, timestamps: str,
                word_timestamps: bool, temperature: float | Sequence[float],
                initial_prompt: str | None, hotwords: str | None,
                vad_parameters: dict[str, Any] | None,
                clips: Sequence[float] | None, language: str | None = None,
                task: str = "transcribe", detection: dict[str, Any] | None = None
                ) -> tuple[list, Any]:
    """One recording through `BatchedInferencePipeline(wm)` (--batched); clips as pairs;
    `detection`: the language_detection_* options."""
    from speechbudget.batched_pipeline import BatchedInferencePipeline
    temps = (temperature,) if isinstance(temperature, (int, float)) else tuple(temperature)
    return BatchedInferencePipeline(wm).transcribe(
        audio, language, task=task, batch_size=batch_size, beam_size=beam,
        without_timestamps=timestamps != "on",
        word_timestamps=word_timestamps, temperature=temps[0], initial_prompt=initial_prompt,
        hotwords=hotwords, vad_parameters=vad_parameters,
        clip_timestamps=None if clips is None else
        [{"start": a, "end": b} for a, b in zip(clips[::2], clips[1::2])], **(detection or {}))


@app.command("transcribe")
def transcribe_cmd(
    files: List[Path] = typer.Argument(..., help="audio files (wav, flac, mp3, ...)"),
    model: str = typer.Option("tiny.en", "--model", help="Whisper name, hub id or local folder"),
    device: Optional[str] = typer.Option(None, "--device", help="cuda | cpu (default: cuda if "
                                                                 "present)"),
    window: str = typer.Option("30", "--window", help="seconds (<= 30) or 'dynamic'"),
    stride: int = int_option(1, "--stride", help="keep one encoder token in STRIDE"),
    stride_at: str = typer.Option("output", "--stride-at", help="layer 0..L or 'output'"),
    pool: str = typer.Option("mean", "--pool", help="mean | drop | attn"),
    beam: int = int_option(1, "--beam", min=1),
    precision: str = typer.Option("fp32", "--precision", help="fp32 | bf16 | int8-dynamic | fp16 (CUDA only)"),
    fmt: str = typer.Option("txt", "--format", help="txt | srt | vtt | tsv | json | all (every "
                                                     "format, into --output-dir)"),
    output_dir: Optional[Path] = typer.Option(None, "-o", "--out", "--output-dir",
                                              help="folder: write FILE.<format> there instead "
                                                   "of printing"),
    timestamps: Optional[str] = typer.Option(
        None, "--timestamps", help="on | off | auto (on when the audio is longer than the "
        "window); default on, off with --batched (faster-whisper's batched default)"),
    longform: str = typer.Option("sequential", "--longform", help="sequential | chunks (the old "
                                                                  "equal-chunk rule)"),
    progress: bool = typer.Option(True, "--progress/--no-progress",
                                  help="a progress bar on stderr (files transcribed)"),
    word_timestamps: bool = typer.Option(False, "--word-timestamps",
                                         help="per-word times (json: each segment's \"words\"; "
                                              "segment times follow the words)"),
    max_line_width: Optional[int] = int_option(
        None, "--max-line-width", min=1, help="srt/vtt, with --word-timestamps: characters in a "
        "line before the next word starts a new line (as openai-whisper's --max_line_width)"),
    max_line_count: Optional[int] = int_option(
        None, "--max-line-count", min=1, help="srt/vtt, with --max-line-width: lines per cue "
        "(cues then run across segments; a pause > 3 s starts a new one)"),
    max_words_per_line: Optional[int] = int_option(
        None, "--max-words-per-line", min=1, help="srt/vtt, with --word-timestamps: words of a "
        "segment per cue (openai-whisper's name)"),
    highlight_words: bool = typer.Option(
        False, "--highlight-words", help="srt/vtt, with --word-timestamps: a cue per word, "
        "the word underlined (<u>...</u>) in its cue's text"),
    condition_on_previous_text: bool = typer.Option(
        False, "--condition-on-previous-text/--no-condition-on-previous-text",
        help="prompt each window with the text of the previous ones (openai-whisper's and "
        "faster-whisper's default: on; off here by default). Not with --longform chunks"),
    temperature: str = typer.Option(
        "0", "--temperature", metavar="T[,T...]",
        help="one value (0: greedy / beam search, > 0: sampling), or an increasing comma list: "
        "the fallback, a window failing --compression-ratio-threshold or --logprob-threshold "
        "decoded again at the next one (faster-whisper's default: 0,0.2,0.4,0.6,0.8,1.0)"),
    compression_ratio_threshold: str = typer.Option(
        f"{COMPRESSION_RATIO_THRESHOLD:g}", "--compression-ratio-threshold", metavar="NUM|off",
        help="fallback: a window whose text's zlib compression ratio is above this is too "
        "repetitive (off: no test)"),
    logprob_threshold: str = typer.Option(
        f"{LOGPROB_THRESHOLD:g}", "--logprob-threshold", metavar="NUM|off",
        help="fallback and no-speech rule: an average token log-probability below this fails "
        "(off: no test)"),
    no_speech_threshold: str = typer.Option(
        f"{NO_SPEECH_THRESHOLD:g}", "--no-speech-threshold", metavar="NUM|off",
        help="a window with P(no speech) above this and failing --logprob-threshold is silence "
        "(off: never)"),
    best_of: int = int_option(
        5, "--best-of", min=1, help="samples per window at a temperature > 0 (the most "
        "probable is kept)"),
    initial_prompt: Optional[str] = typer.Option(
        None, "--initial-prompt", metavar="TEXT", help="text to prompt the first window with, "
        "as if said before it (faster-whisper's initial_prompt; up to 223 tokens)"),
    prefix: Optional[str] = typer.Option(
        None, "--prefix", metavar="TEXT", help="text forced as the start of the first window's "
        "transcript (faster-whisper's prefix; up to 223 tokens)"),
    hotwords: Optional[str] = typer.Option(
        None, "--hotwords", metavar="TEXT", help="words or phrases to prompt every window with "
        "(faster-whisper's hotwords; not the first window when --prefix is given)"),
    vad: bool = typer.Option(
        False, "--vad", help="decode only the speech the Silero VAD finds, times kept "
        "(faster-whisper's vad_filter and its defaults; needs pip install 'speechbudget\\[vad]')"),
    vad_min_silence_ms: Optional[int] = int_option(
        None, "--vad-min-silence-ms", min=0, metavar="MS", help="with --vad: the silence that "
        "ends a speech chunk (default 2000, faster-whisper's min_silence_duration_ms)"),
    vad_model: Optional[str] = typer.Option(
        None, "--vad-model", metavar="faster-whisper|silero-vad|PATH", help="with --vad or "
        "--batched: the Silero VAD weights (default silero-vad: the installed silero-vad "
        "package's; faster-whisper: the silero_vad_v6.onnx it bundles, run as it runs it, for "
        "its exact chunks; PATH: a Silero .jit or .onnx file)"),
    clip_timestamps: Optional[str] = typer.Option(
        None, "--clip-timestamps", metavar="START,END[,...]", help="decode only these clips, "
        "seconds (faster-whisper's clip_timestamps; an odd count's last clip runs to the end)"),
    hallucination_silence_threshold: Optional[str] = typer.Option(
        None, "--hallucination-silence-threshold", metavar="SECONDS",
        help="seconds >= 0, with --word-timestamps: skip silence longer than this around a likely "
        "hallucination (faster-whisper's hallucination_silence_threshold)"),
    batched: bool = typer.Option(
        False, "--batched", help="faster-whisper's BatchedInferencePipeline: the speech the "
        "Silero VAD finds, in chunks of up to 30 s decoded --batch-size at a time, each once and "
        "on its own (no fallback, no no-speech rule); needs pip install 'speechbudget\\[vad]'"),
    batch_size: int = int_option(
        8, "--batch-size", min=1, help="windows decoded together (files transcribed together; "
        "with --batched: speech chunks)"),
    language: str = typer.Option(
        "auto", "--language", metavar="CODE|auto", help="the spoken language's code (en, de, "
        "fr, ...: the model's <|xx|> tokens); auto: English on an English-only model, else "
        "detected per file on its first window (json: info.language, "
        "info.language_probability)"),
    language_detection_segments: int = int_option(
        1, "--language-detection-segments", min=1, help="with --language auto: look at up to "
        "this many windows while the top language is not more probable than "
        "--language-detection-threshold, then take the language most of them put first "
        "(faster-whisper's language_detection_segments)"),
    language_detection_threshold: float = float_option(
        0.5, "--language-detection-threshold", min=0.0, help="0..1, with --language auto: a "
        "window whose top language is more probable than this decides it"),
    task: str = typer.Option(
        "transcribe", "--task", metavar="transcribe|translate", help="translate: into English "
        "(multilingual models only)"),
) -> None:
    """Transcribe audio files of any length. txt: one line per file `FILE<TAB>transcript`;
    srt / vtt / tsv / json: segments with times (printed, or written to --output-dir); printed
    json is one line per file (JSON Lines) with its "file"; srt / vtt / tsv print one file only
    (several need --output-dir); all: every format, FILE.<format> each, into --output-dir."""
    from speechbudget.errors import OutputError, write_atomic
    from speechbudget.tasks.asr.subtitles import ALL, FORMATS, render, to_json
    if fmt not in FORMATS + (ALL,):
        raise typer.BadParameter(f"{fmt!r}: expected one of {', '.join(FORMATS + (ALL,))}",
                                 param_hint="--format")
    formats = FORMATS if fmt == ALL else (fmt,)
    check_choices(timestamps, longform)
    language_code = language_option(language, task, model)
    if language_detection_threshold > 1.0:   # a probability (the minimum: its parser)
        raise typer.BadParameter(f"{language_detection_threshold!r} is above 1.0, the largest "
                                 "value allowed", param_hint="--language-detection-threshold")
    cues = cue_options(max_line_width, max_line_count, max_words_per_line, highlight_words,
                        word_timestamps, formats)
    seek_options = longform_options(clip_timestamps, hallucination_silence_threshold, vad,
                                         word_timestamps, longform)
    decoding = dict(
        condition_on_previous_text=condition_on_previous_text,
        temperature=parse_temperatures(temperature),
        compression_ratio_threshold=parse_threshold(
            compression_ratio_threshold, "--compression-ratio-threshold", 0.0, math.inf),
        logprob_threshold=parse_threshold(logprob_threshold, "--logprob-threshold", -math.inf,
                                          0.0),
        no_speech_threshold=parse_threshold(no_speech_threshold, "--no-speech-threshold", 0.0,
                                            1.0),
        best_of=best_of, initial_prompt=initial_prompt, prefix=prefix, hotwords=hotwords,
        vad_filter=vad, **seek_options)
    decoding["vad_parameters"], vad_loaded = vad_setup(vad or batched, vad_min_silence_ms,
                                                       vad_model)
    timestamps = batched_options(batched, timestamps, longform, decoding["temperature"],
                                 seek_options["clip_timestamps"], prefix,
                                 condition_on_previous_text,
                                 seek_options["hallucination_silence_threshold"])
    if condition_on_previous_text and longform == "chunks":  # it would be ignored
        raise typer.BadParameter("--longform chunks decodes its chunks independently: use "
                                 "--longform sequential to condition on previous text",
                                 param_hint="--condition-on-previous-text")

    if output_dir is not None:
        prepare_output_dir(output_dir, list(files), formats)  # before any work, not after it
    elif fmt == ALL:
        raise typer.BadParameter(f"{ALL} writes one file per format ({', '.join(FORMATS)}): "
                                 "add --output-dir", param_hint="--format")
    elif fmt in ("srt", "vtt", "tsv") and len(files) > 1:
        # printed one after another, the documents would run together: cue numbers restarting,
        # no blank line between the last cue of one and the first of the next (tsv: its header
        # again), no file named
        raise typer.BadParameter(f"{fmt} prints one document, and {len(files)} files were given:"
                                 " add --output-dir to write one FILE." + fmt + " per input, or "
                                 "print them with --format json (one line per file)",
                                 param_hint="--format")

    from speechbudget.axes import ConfigError
    from speechbudget.cli.progress import progress_bar
    try:
        with progress_bar(progress, "transcribing") as update:
            results = transcribe_files(list(files), model, device, window, stride, stride_at,
                                       pool, beam, precision, batch_size=batch_size,
                                       timestamps=timestamps, longform=longform,
                                       progress=update, word_timestamps=word_timestamps,
                                       batched=batched, vad_model=vad_loaded,
                                       language=language_code, task=task,
                                       language_detection_segments=language_detection_segments,
                                       language_detection_threshold=(
                                           language_detection_threshold), **decoding)
    except ConfigError as e:  # a prompt option's text is only checked against the tokenizer,
        # the language and task of a hub model or folder against its vocabulary
        hint = {"initial_prompt": "--initial-prompt", "prefix": "--prefix",
                "hotwords": "--hotwords", "language": "--language", "task": "--task"}.get(e.field)
        raise typer.BadParameter(str(e), param_hint=hint) from None
    failed = 0
    unwritten: list[Path] = []   # a file that cannot be written does not stop the others
    for f, segs, info, error in results:
        if error is None:
            if output_dir is not None:
                for one in formats:
                    target = output_dir / f"{f.stem}.{one}"
                    try:
                        write_atomic(target, render(segs, one, info.to_dict(), cues))
                    except OSError as e:
                        unwritten.append(target)
                        err_line(f"--output-dir: cannot write {target}: {e.strerror or e}")
            elif fmt == "txt":
                # a real tab (rich would expand it); the text on its one line (a decoded
                # line break or tab would split it)
                # the path's own tabs and line breaks written as escapes (shown)
                typer.echo(f"{shown(f)}\t{' '.join(info.text.split())}")
            elif fmt == "json":  # JSON Lines: one document per file, each naming its file
                typer.echo(to_json(segs, info.to_dict(), file=str(f), indent=None), nl=False)
            else:
                typer.echo(render(segs, fmt, info.to_dict(), cues), nl=False)
        else:
            failed += 1
            err_line(error if error.startswith(str(f)) else f"{f}: {error}")
    if unwritten:
        raise OutputError(f"--output-dir {output_dir}: {len(unwritten)} of "
                          f"{len(formats) * (len(results) - failed)} outputs could not be "
                          "written (see above)")
    if failed:
        raise typer.Exit(1)
