"""Whisper's languages and tasks: the language codes a vocabulary holds, the checks of `language`
and `task`, the decoder prompt they give, and language detection.

Codes: a multilingual vocabulary's <|xx|> special tokens, from <|en|> on (`WhisperTokens
.first_language`, `n_languages`: 99, large-v3 100 with "yue"), read from the loaded tokenizer
(`bundle_codes`); before a model loads, the first n_languages codes of transformers' table of
Whisper's languages (code -> name, in the vocabulary's order: `vocabulary_codes`), which also
names them in messages. An English-only vocabulary decodes "en" only, and never translates.

The prompt (`task_prompt`): <|startoftranscript|><|xx|><|task|> (+ <|notimestamps|>), as
openai-whisper and faster-whisper build it; the bundle's prompt (`models.loading`) holds <|en|>
<|transcribe|>, which sweeps and `asr eval` keep unless given another language (one code for the
whole dataset, never detected: `eval_language`).

Detection (`detect_languages`), as faster-whisper's `detect_language`: the decoder's logits
after <|startoftranscript|> alone, softmax over the language tokens (`language_probs`), on the
recording's first window. faster-whisper encodes its first 30 s; here the first window is the
configuration's (its window, stride and pool: the xT / xV axes apply to detection too), cut as
the sequential seek loop cuts it (`LongformSeek.first_window`), so that with a `FirstWindows`
cache the transcription reuses its features and encoder states: the detection then costs one
decoder step (`flops.estimate.language_detection_flops`). Where the states cannot be reused
(pool "attn", a stride inside the encoder, a first window the loop does not decode) the
detection's encoder pass is counted too.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from speechbudget.axes import ConfigError

TASKS = ("transcribe", "translate")


def language_names() -> dict[str, str]:
    """Whisper's language codes -> names, in the order of the vocabulary's language tokens
    (transformers' table: 100 codes, the last, "yue", in large-v3's vocabulary only)."""
    from transformers.models.whisper.tokenization_whisper import LANGUAGES
    return dict(LANGUAGES)


def vocabulary_codes(vocab_size: int) -> tuple[str, ...]:
    """The language codes a Whisper vocabulary of `vocab_size` tokens decodes, without a model:
    ("en",) for the English-only one; ValueError for a size that is not Whisper's."""
    from speechbudget.models.registry import whisper_tokens
    tok = whisper_tokens(int(vocab_size))
    if int(vocab_size) == 51864:
        return ("en",)
    codes = tuple(language_names())[:tok.n_languages]
    if len(codes) != tok.n_languages:
        raise ValueError(f"vocab_size={vocab_size}: {tok.n_languages} language tokens, "
                         f"{len(codes)} codes known")
    return codes


def is_multilingual(bundle: Any) -> bool:
    """Whether a loaded bundle's vocabulary is a multilingual Whisper one (51865, 51866)."""
    return int(bundle.model.config.vocab_size) in (51865, 51866)


def bundle_codes(bundle: Any) -> tuple[str, ...]:
    """The language codes of a loaded bundle, read from its tokenizer's <|xx|> tokens at
    first_language .. first_language + n_languages - 1 (`vocabulary_codes` when it has no
    tokenizer or the tokens are not <|xx|>); ("en",) for an English-only vocabulary or one
    without language tokens (a test model: its prompt is taken as it is)."""
    vocab = int(bundle.model.config.vocab_size)
    if not is_multilingual(bundle):
        return ("en",)
    from speechbudget.models.registry import whisper_tokens
    tok = whisper_tokens(vocab)
    texts = [_token_text(bundle.tokenizer, tok.first_language + i)
             for i in range(tok.n_languages)]
    if all(t is not None and t.startswith("<|") and t.endswith("|>") for t in texts):
        return tuple(t[2:-2] for t in texts)
    return vocabulary_codes(vocab)


def _token_text(tokenizer: Any, token: int) -> str | None:
    for name in ("convert_ids_to_tokens", "id_to_token"):
        fn = getattr(tokenizer, name, None)
        if fn is not None:
            try:
                text = fn(int(token))
            except Exception:  # a tokenizer without the id
                return None
            return text if isinstance(text, str) else None
    return None


def close_codes(value: str, codes: Sequence[str], n: int = 3) -> list[str]:
    """Codes near `value`: the code of a language named `value` ("German" -> "de") first, then
    difflib's closest codes."""
    names = language_names()
    text = value.strip().lower()
    named = [c for c in codes if names.get(c, "").lower() == text]
    near = difflib.get_close_matches(text, list(codes), n=n, cutoff=0.5)
    return list(dict.fromkeys(named + near))[:n]


def check_language(value: Any, codes: Sequence[str], model: str = "",
                   field_name: str = "language") -> str | None:
    """`value` when it is None or one of `codes` (the model's); ConfigError naming the field
    otherwise (an English-only model: "en" or None only), with the close codes."""
    if value is None or (isinstance(value, str) and value in codes):
        return value
    if tuple(codes) == ("en",):
        raise ConfigError(field_name, value, f"'en' or None: {model or 'the model'} is an "
                                             "English-only model")
    close = close_codes(value, codes) if isinstance(value, str) else []
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(field_name, value, f"None (detect it) or one of the model's "
                                         f"{len(codes)} language codes ({', '.join(codes[:6])}, "
                                         f"...){hint}")


def check_task(value: Any, english_only: bool = False, model: str = "",
               field_name: str = "task") -> str:
    """'transcribe' or 'translate' (to English; multilingual models only): ConfigError naming
    the field otherwise."""
    if value not in TASKS:
        raise ConfigError(field_name, value, "'transcribe' or 'translate'")
    if value == "translate" and english_only:
        raise ConfigError(field_name, value, f"'transcribe': {model or 'the model'} is an "
                                             "English-only model (it does not translate)")
    return value


def task_prompt(bundle: Any, prompt: Sequence[int], language: str | None,
                task: str) -> list[int]:
    """The bundle's decoder prompt with the language and task tokens of `language` (None: as the
    bundle has it, <|en|>) and `task` after <|startoftranscript|>; unchanged for <|en|>
    <|transcribe|>. ConfigError naming the field for what the model cannot decode."""
    prompt = [int(t) for t in prompt]
    if language in (None, "en") and task == "transcribe":
        return prompt
    vocab = int(bundle.model.config.vocab_size)
    english_only = not is_multilingual(bundle)
    name = getattr(getattr(bundle, "arch", None), "name", "")
    check_task(task, english_only, name)
    codes = bundle_codes(bundle)
    check_language(language, codes, name)
    from speechbudget.models.registry import whisper_tokens
    tok = whisper_tokens(vocab)
    i = prompt.index(tok.sot) if tok.sot in prompt else -1
    languages = range(tok.first_language, tok.first_language + tok.n_languages)
    if i < 0 or len(prompt) < i + 3 or prompt[i + 1] not in languages or \
            prompt[i + 2] not in (tok.translate, tok.transcribe):
        raise ValueError(f"decoder prompt {prompt}: no <|startoftranscript|><|xx|><|task|> to "
                         "set the language and task in")
    prompt[i + 1] = tok.first_language + codes.index(language or "en")
    prompt[i + 2] = tok.translate if task == "translate" else tok.transcribe
    return prompt


# ---- detection ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Detection:
    """One recording's detected language: the code, its probability and every language's
    (most probable first), and the detection window (`frames` mel frames, `enc_tokens` encoder
    tokens: its FLOPs)."""

    language: str
    probability: float
    all_probs: tuple[tuple[str, float], ...]
    frames: int
    enc_tokens: int
    # the mel frames of each further window looked at (`language_detection_segments` > 1: each
    # encoded and its decoder step run, never reused by the transcription)
    more_frames: tuple[int, ...] = ()
    # whether the first window's encoder pass is the detection's own (not the transcription's)
    own_encoder: bool = False

    def gflops(self, config: Any, reused: bool) -> float:
        """GFLOPs of the detection (`flops.estimate.language_detection_flops`): a decoder step
        per window looked at; the first window's encoder pass unless the transcription `reused`
        it, every further window's."""
        from speechbudget.flops.estimate import language_detection_flops
        first = language_detection_flops(config, self.frames,
                                         encoder=self.own_encoder or not reused)
        return (first + sum(language_detection_flops(config, f, encoder=True)
                            for f in self.more_frames)) / 1e9


def language_probs(logits: Any, language_ids: Sequence[int], codes: Sequence[str]
                   ) -> tuple[str, float, list[tuple[str, float]]]:
    """(code, probability, [(code, probability)] most probable first) from one row of decoder
    logits [vocab]: the softmax over the logits of the language tokens `language_ids` (named
    `codes`), as openai-whisper's and CTranslate2's detect_language."""
    import torch
    x = torch.as_tensor(logits).float().reshape(-1)
    if len(language_ids) != len(codes) or not len(codes):
        raise ValueError(f"{len(language_ids)} language ids for {len(codes)} codes")
    probs = x[torch.as_tensor(list(language_ids), dtype=torch.long)].softmax(-1).tolist()
    ranked = sorted(zip(codes, probs), key=lambda cp: -cp[1])
    return ranked[0][0], ranked[0][1], ranked


class FirstWindows:
    """A cache (AsrPipeline's `cache`) that keeps what the detection pass computes (`record`),
    then gives each entry once to the transcription that follows and stores nothing else, so
    that the first windows are not encoded twice and no other window's states are kept.
    `used(keys)`: whether an entry stored under one of the owner's keys was taken."""

    def __init__(self) -> None:
        self.entries: dict = {}
        self.owners: dict[str, str] = {}    # a window's row key -> its recording's id
        self.owned: dict[str, list] = {}
        self.taken: set = set()
        self.recording = True

    def get(self, key: Any, default: Any = None) -> Any:
        if self.recording:
            return self.entries.get(key, default)
        hit = self.entries.pop(key, None)
        if hit is None:
            return default
        self.taken.add(key)
        return hit

    def __setitem__(self, key: Any, value: Any) -> None:
        if self.recording:
            self.entries[key] = value
            # the pipeline's keys hold the row's key as one element
            parts = key if isinstance(key, tuple) else (key,)
            owner = next((o for k, o in self.owners.items() if k in parts), None)
            if owner is not None:
                self.owned.setdefault(owner, []).append(key)

    def replay(self) -> None:
        self.recording = False

    def used(self, owner: str) -> bool:
        """Whether the transcription took every entry the detection of `owner` stored (its
        features and its encoder states)."""
        keys = self.owned.get(owner, [])
        return bool(keys) and all(k in self.taken for k in keys)


def reusable(config: Any) -> bool:
    """Whether the detection's encoder states are the transcription's own (a stride on the
    output or none, not pool "attn"): only then is its first window cached."""
    return config.pool != "attn" and (config.stride == 1 or config.stride_at == "output")


def check_detection_options(segments: Any, threshold: Any) -> tuple[int, float]:
    """faster-whisper's `language_detection_segments` (an integer >= 1: windows looked at, at
    most) and `language_detection_threshold` (a number in [0, 1]: a window whose top language is
    more probable than this decides); ConfigError naming the field otherwise."""
    if isinstance(segments, bool) or not isinstance(segments, int) or segments < 1:
        raise ConfigError("language_detection_segments", segments, "an integer >= 1")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not 0.0 <= float(threshold) <= 1.0:
        raise ConfigError("language_detection_threshold", threshold, "a number in [0, 1]")
    return segments, float(threshold)


def settle(results: Sequence[tuple[str, float, Sequence[tuple[str, float]]]], threshold: float,
           more: bool) -> tuple[str, float, Sequence[tuple[str, float]]] | None:
    """faster-whisper's rule over the windows looked at so far ((code, probability, ranked)
    each, in order): the last one's language when its probability > `threshold`; None when
    `more` windows may still be looked at; else the language most windows put first (the first
    such one on a tie) with its highest probability, and the last window's ranking."""
    code, p, ranked = results[-1]
    if p > threshold:
        return code, p, ranked
    if more:
        return None
    votes: dict[str, list[float]] = {}
    for c, q, _ in results:
        votes.setdefault(c, []).append(q)
    best = max(votes, key=lambda c: len(votes[c]))
    return best, max(votes[best]), ranked


def _sot_results(pipe: Any, rows: Sequence[Any], codes: Sequence[str], batch_size: int
                 ) -> list[tuple[str, float, list[tuple[str, float]]]]:
    """(code, probability, ranked) of each encoded row: one decoder step after
    <|startoftranscript|>, `batch_size` rows at a time; the rows' mel and states are freed."""
    import torch

    from speechbudget.models.registry import whisper_tokens
    tok = whisper_tokens(int(pipe.bundle.model.config.vocab_size))
    ids = [tok.first_language + i for i in range(len(codes))]
    out = []
    for k in range(0, len(rows), batch_size):
        batch = rows[k:k + batch_size]
        lengths = [int(r.enc.shape[0]) for r in batch]
        T = max(lengths)
        enc = torch.stack([torch.nn.functional.pad(r.enc, (0, 0, 0, T - n))
                           for r, n in zip(batch, lengths)])
        logits = pipe.decoder.sot_logits(enc, lengths)
        for j, r in enumerate(batch):
            out.append(language_probs(logits[j], ids, codes))
            r.mel = r.enc = None
    return out


def later_window(pipe: Any, first: Any, audio: Any, k: int) -> Any:
    """The recording's k-th detection window (k >= 1) after `first` (`first_window`'s row), as
    faster-whisper's detection cuts its features into consecutive windows from the first one's
    start: the window of `first.frames` frames k windows on, with the audio left there (the
    k-th chunk with longform "chunks"); None past the audio."""
    from speechbudget.geometry import HOP_LENGTH, SAMPLE_RATE
    from speechbudget.tasks.asr.windows import Row
    if pipe.config.longform == "chunks":
        rows = pipe.rows_for(first.item_id, audio)
        return rows[k] if k < len(rows) else None
    start = first.seek + k * first.frames
    if start >= -(-len(audio) // HOP_LENGTH):
        return None
    a = audio[start * HOP_LENGTH:(start + first.frames) * HOP_LENGTH]
    return Row(f"{first.item_id}@{start}:language", a, first.frames, len(a) / SAMPLE_RATE,
               item_id=first.item_id, seek=start, source=audio, peak=first.peak)


def detect_languages(pipe: Any, items: Sequence[tuple[str, Any]], codes: Sequence[str],
                     batch_size: int = 8, cache: FirstWindows | None = None, segments: int = 1,
                     threshold: float = 0.5) -> dict[str, Detection]:
    """Each (id, audio)'s language on its first window (`pipe.first_window`, encoded by the
    pipeline as the transcription would, `batch_size` at a time, through `cache` when given),
    from one decoder step after <|startoftranscript|>; then, as faster-whisper's
    `detect_language` with `language_detection_segments` / `_threshold`, while the top language
    is not more probable than `threshold`, the next window (`later_window`, not cached), up to
    `segments` windows, and the majority vote (`settle`). A recording without a whole mel frame
    has none."""
    audio_of = dict(items)
    rows = [r for r in (pipe.first_window(i, a) for i, a in items) if r is not None]
    if cache is not None:
        cache.owners.update({r.key: r.item_id for r in rows})
    pipe.features(rows, cache)
    pipe.encode(rows, batch_size, cache)
    firsts = {r.item_id: (r, int(r.enc.shape[0])) for r in rows}
    found = _sot_results(pipe, rows, codes, batch_size)
    history = {r.item_id: [res] for r, res in zip(rows, found)}
    more: dict[str, list[int]] = {r.item_id: [] for r in rows}
    out: dict[str, Detection] = {}
    pending = list(rows)
    k = 1
    while pending:
        nxt = []
        for first in [firsts[r.item_id][0] for r in pending]:
            w = later_window(pipe, first, audio_of[first.item_id], k) if k < segments else None
            decided = settle(history[first.item_id], threshold, w is not None)
            if decided is None:
                nxt.append(w)
                continue
            first_row, tokens = firsts[first.item_id]
            code, p, ranked = decided
            out[first.item_id] = Detection(code, p, tuple(ranked), first_row.frames, tokens,
                                           tuple(more[first.item_id]))
        if nxt:
            pipe.features(nxt, None)
            pipe.encode(nxt, batch_size, None)
            for r, res in zip(nxt, _sot_results(pipe, nxt, codes, batch_size)):
                history[r.item_id].append(res)
                more[r.item_id].append(r.frames)
        pending, k = nxt, k + 1
    if cache is not None:
        cache.replay()
    return out


# what faster-whisper's batched pipeline appends to the speech's features before detecting
# ("a dummy feature to account for empty audio": one frame of -1.5 in the normalised log-mel)
DUMMY_FRAME = -1.5


def speech_features(chunks: Sequence[Any], n_mels: int, max_frames: int,
                    device: Any = "cpu") -> Any:
    """The log-mel faster-whisper's `BatchedInferencePipeline` detects the language on: each
    speech chunk's own log-mel (floored at its own peak - 8) without its last frame, i.e.
    len // 160 frames, the chunks' joined, one `DUMMY_FRAME` after them; only the first
    `max_frames` frames are computed -> [n_mels, frames]."""
    import torch

    from speechbudget.geometry import HOP_LENGTH
    from speechbudget.log_mel import log_mel_peak, log_mel_span
    parts, have = [], 0
    for audio in chunks:
        if have >= max_frames:
            break
        n = len(audio) // HOP_LENGTH
        if n == 0:
            continue
        peak = log_mel_peak(audio, n_mels, device)
        parts.append(log_mel_span(audio, 0, n, max(2, n), n_mels, peak, device)[:, :n])
        have += n
    parts.append(torch.full((n_mels, 1), DUMMY_FRAME, device=torch.device(device)))
    return torch.cat(parts, dim=1)[:, :max_frames]


def detect_speech_language(pipe: Any, chunks: Sequence[Any], codes: Sequence[str],
                           segments: int = 1, threshold: float = 0.5) -> Detection:
    """One language for a recording's speech chunks (16 kHz arrays, in order), as
    faster-whisper's `BatchedInferencePipeline` detects it: on `speech_features` (the chunks'
    log-mels joined), cut into consecutive windows of the configuration's window (30 s: 3000
    frames; each zero-padded in the log-mel as its `pad_or_trim`), each encoded and its decoder
    step run, one after the other until `settle` decides (at most `segments`). The windows are
    the detection's own (no chunk's features): every encoder pass is counted."""
    import torch

    from speechbudget.geometry import MEL_FRAMES_PER_S, frames_for
    from speechbudget.tasks.asr.windows import Row
    native = frames_for(pipe.config.window_s_for(3600.0))   # the longest window it takes
    mel = speech_features(chunks, pipe.bundle.n_mels, segments * native, pipe.device)
    window = frames_for(pipe.config.window_s_for(mel.shape[1] / MEL_FRAMES_PER_S))
    mel = mel[:, :segments * window]
    history, frames, tokens = [], [], 0
    for k in range(0, mel.shape[1], window):
        part = mel[:, k:k + window]
        row = Row(f"speech@{k}:language", np.zeros(0, np.float32), window,
                  part.shape[1] / MEL_FRAMES_PER_S, item_id="speech")
        row.mel = torch.nn.functional.pad(part, (0, window - part.shape[1]))
        pipe.encode([row], 1, None)
        tokens = tokens or int(row.enc.shape[0])
        history += _sot_results(pipe, [row], codes, 1)
        frames.append(window)
        decided = settle(history, threshold, k + window < mel.shape[1])
        if decided is not None:
            code, p, ranked = decided
            return Detection(code, p, tuple(ranked), frames[0], tokens, tuple(frames[1:]),
                             own_encoder=True)
    raise AssertionError(f"no detection window in {mel.shape[1]} frames")  # the dummy frame
