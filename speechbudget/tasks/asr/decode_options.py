"""What the decoder decodes (`DecodeOptions`): the prompt, the end token, the suppressed tokens,
the beam width and the timestamp and no-speech token ids; read from a loaded bundle
(`DecodeOptions.from_bundle`), used by `decode.WhisperDecoderRunner`; and each row's prompt
around them (`prompt_rows`: previous text, hotwords, prefix)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class DecodeOptions:
    """What to decode: the prompt, the end token and the tokens that may never (or not first) come.

    With `timestamps` the prompt has no <|notimestamps|> and the decoder emits timestamp tokens
    (`timestamp_begin` = <|0.00|>, one per 0.02 s) under Whisper's rules (`TimestampRules`).
    `no_speech_id` and `sot_index` give the no-speech probability (the softmax of the logits at the
    <|startoftranscript|> position, as openai-whisper and CTranslate2 compute it)."""

    prompt_ids: tuple[int, ...]
    eos_id: int
    suppress_tokens: tuple[int, ...] = ()
    begin_suppress_tokens: tuple[int, ...] = ()
    beam_size: int = 1
    length_penalty: float | None = None  # None: score = sum logprob / length (Whisper, faster-whisper)
    max_target_positions: int = 448
    timestamps: bool = False
    timestamp_begin: int | None = None   # first timestamp token <|0.00|>; None: no timestamps
    no_timestamps_id: int | None = None
    no_speech_id: int | None = None
    sot_index: int = 0                   # position of <|startoftranscript|> in the prompt
    max_initial_timestamp_s: float | None = 1.0
    sot_prev_id: int | None = None       # <|startofprev|>: starts a row's previous-text prefix

    @classmethod
    def from_bundle(cls, bundle, beam_size: int = 1, timestamps: bool = False,
                    language: str | None = None, task: str = "transcribe"
                    ) -> "DecodeOptions":
        """Options from a `models.loading.WhisperBundle`: its prompt, eos and suppression lists.
        Without timestamps every special token after eos but eos is suppressed (sot, language,
        task, notimestamps and timestamp tokens), as openai-whisper does; with timestamps the
        specials up to <|notimestamps|> are, the prompt drops <|notimestamps|> and timestamp
        tokens follow `TimestampRules`. Special ids: the bundle's `no_timestamps_id` /
        `timestamp_begin` / `no_speech_id` if it has them, else Whisper's layout (the prompt ends
        in <|notimestamps|>, <|0.00|> follows it and <|nocaptions|> precedes it).
        `language` (a code; None: the bundle's, <|en|>) and `task` ("transcribe", "translate")
        set the tokens after <|startoftranscript|> (`language.task_prompt`: ConfigError naming
        the field for what the model cannot decode); the prompt's length does not change."""
        from speechbudget.tasks.asr.language import task_prompt
        model = bundle.model
        vocab = model.config.vocab_size
        eos = int(bundle.eos_id)
        prompt = task_prompt(bundle, bundle.prompt_ids, language, task)
        no_ts = int(getattr(bundle, "no_timestamps_id", prompt[-1]))
        ts_begin = int(getattr(bundle, "timestamp_begin", no_ts + 1))
        no_speech = getattr(bundle, "no_speech_id", no_ts - 1)
        sot_prev = getattr(bundle, "sot_prev_id", no_ts - 2)
        if timestamps:
            if prompt[-1] == no_ts:
                prompt = prompt[:-1]
            specials = range(eos + 1, ts_begin)
        else:
            specials = range(eos + 1, vocab)
        suppress = sorted(set(int(t) for t in bundle.suppress_tokens if 0 <= int(t) < vocab)
                          | set(specials))
        return cls(prompt_ids=tuple(prompt), eos_id=eos, suppress_tokens=tuple(suppress),
                   begin_suppress_tokens=tuple(int(t) for t in bundle.begin_suppress_tokens),
                   beam_size=beam_size,
                   max_target_positions=int(model.config.max_target_positions),
                   timestamps=timestamps, timestamp_begin=ts_begin, no_timestamps_id=no_ts,
                   no_speech_id=None if no_speech is None else int(no_speech), sot_index=0,
                   sot_prev_id=None if sot_prev is None else int(sot_prev))

    def with_(self, **changes) -> "DecodeOptions":
        from dataclasses import replace
        return replace(self, **changes)

    def prompt_rows(self, B: int, previous: Sequence[Sequence[int]] | None = None,
                    hotwords: Sequence[Sequence[int]] | None = None,
                    prefix: Sequence[Sequence[int]] | None = None
                    ) -> tuple[list[list[int]], list[list[int]]]:
        """Per row, (the tokens before the prompt, the forced prefix after it), as
        faster-whisper's `get_prompt`: before = [] or <|startofprev|> + the first
        max_target_positions // 2 - 1 hotword tokens (only when the row has no prefix) + the
        last max_target_positions // 2 - 1 previous tokens; prefix = its first
        max_target_positions // 2 - 1 tokens, after <|0.00|> when decoding with timestamps.
        Where the whole prompt would leave no position to decode (both halves full), the oldest
        previous tokens, then the last hotword tokens, are left out."""
        def per_row(name: str, lists):
            if lists is None:
                return [[] for _ in range(B)]
            if len(lists) != B:
                raise ValueError(f"{name}: {len(lists)} token lists for {B} rows")
            return [[int(t) for t in x] for x in lists]
        previous, hotwords, prefix = (per_row("previous", previous),
                                      per_row("hotwords", hotwords), per_row("prefix", prefix))
        if (any(previous) or any(hotwords)) and self.sot_prev_id is None:
            raise ValueError("previous text or hotwords given, but sot_prev_id is None")
        keep = self.max_target_positions // 2 - 1
        room = self.max_target_positions - 1 - len(self.prompt_ids)
        before, forced = [], []
        for prev, hot, pre in zip(previous, hotwords, prefix):
            pre = pre[:keep]
            if pre and self.timestamps:
                pre = [int(self.timestamp_begin)] + pre
            hot = [] if pre else hot[:keep]
            prev = prev[-keep:] if prev else []
            over = (1 if hot or prev else 0) + len(hot) + len(prev) + len(pre) - room
            if over > 0:
                cut = min(over, len(prev))
                prev, over = prev[cut:], over - cut
                hot = hot[:len(hot) - over] if over > 0 else hot
            before.append([self.sot_prev_id] + hot + prev if hot or prev else [])
            forced.append(pre)
        return before, forced
