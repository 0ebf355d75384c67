"""The language an evaluation (`asr eval --language`, a sweep's `task_options.language`,
`runner.AsrTask(language=...)`) tells the model and scores in.

One code for the whole dataset, "en" by default: the decoder prompt is <|code|><|transcribe|>
(`language.task_prompt`; "en" keeps the bundle's prompt as it is) and WER is computed after the
normaliser of that language (`wer.normalizer_for`). Detection ("auto", None) is not offered: a
measured WER should not depend on which language each item happened to be detected as. An
English-only model (vocabulary of 51864 tokens) evaluates "en" only; that is checked against the
configuration's architecture before any model loads (`check_eval_language(..., model=NAME)`).
"""
from __future__ import annotations

from typing import Any

from speechbudget.axes import ConfigError

DEFAULT_LANGUAGE = "en"
DETECT = ("auto", None)   # what `transcribe` takes for detection, refused here


def check_eval_language(value: Any, model: str | None = None,
                        field_name: str = "language") -> str:
    """`value` when it is a language code Whisper decodes (and, given the registry `model` name,
    one that model decodes); ConfigError naming `field_name` otherwise."""
    from speechbudget.tasks.asr.language import close_codes, vocabulary_codes
    if value in DETECT or (isinstance(value, str) and value.strip().lower() == "auto"):
        raise ConfigError(field_name, value,
                          "a language code such as 'en' or 'de': detection ('auto' or null) is "
                          "not offered for evaluation, since a measured WER should not depend "
                          "on each item's detected language")
    if not isinstance(value, str):
        raise ConfigError(field_name, value, "a language code (a string such as 'en' or 'de')")
    if model is not None:
        from speechbudget.architectures import get_architecture
        codes = vocabulary_codes(get_architecture(model).dims.vocab_size)
        if codes == ("en",) and value != "en":
            raise ConfigError(field_name, value,
                              f"'en': {model} is an English-only model (use a multilingual "
                              "one, e.g. base, for other languages)")
    else:   # every code of the largest vocabulary (large-v3's 100)
        codes = vocabulary_codes(51866)
    if value not in codes:
        close = close_codes(value, codes)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        whose = f"{model}'s" if model else "Whisper's"
        raise ConfigError(field_name, value, f"one of {whose} {len(codes)} language codes "
                                             f"({', '.join(codes[:6])}, ...){hint}")
    return value
