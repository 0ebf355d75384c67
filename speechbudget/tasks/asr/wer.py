"""Word error rate as the Whisper papers and the Open ASR Leaderboard compute it.

Both sides are normalised by the language of the speech (`normalizer_for`, the one place that
chooses): English with the Whisper English normaliser (transformers' `EnglishTextNormalizer` with
openai-whisper's British->American spelling mapping `english.json`, vendored beside this file
under the MIT licence, see `english.json.LICENSE`: English spelling and number rules); any other
language with Whisper's basic normaliser (`BasicTextNormalizer(remove_diacritics=False)`, as
openai-whisper and the Open ASR Leaderboard score non-English speech: lower case, no bracketed
words, punctuation and symbols removed, letters with their diacritics kept), then aligned with
jiwer. Corpus WER = sum of word errors (S + D + I) / sum of reference words, and its 95% confidence
interval is a seeded bootstrap over utterances.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

SPELLING_MAPPING = Path(__file__).with_name("english.json")


ENGLISH = "en"   # the language every score assumed before the language option existed


def normalizer_for(language: str = ENGLISH):
    """The text normaliser WER is computed after for speech in `language` (a Whisper language
    code): English's (`EnglishTextNormalizer` with the spelling mapping) for "en", the basic one
    keeping diacritics for every other language (an English-only rule applied to other text
    would rewrite its numbers and strip its letters' accents)."""
    if not isinstance(language, str) or not language:
        raise TypeError(f"normalizer_for expects a language code, got {language!r}")
    return _english_normalizer() if language == ENGLISH else _basic_normalizer()


@lru_cache(maxsize=1)
def _english_normalizer():
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer
    with open(SPELLING_MAPPING, encoding="utf-8") as f:
        return EnglishTextNormalizer(json.load(f))


@lru_cache(maxsize=1)
def _basic_normalizer():
    from transformers.models.whisper.english_normalizer import BasicTextNormalizer
    return BasicTextNormalizer(remove_diacritics=False)


def normalize(text: str, language: str = ENGLISH) -> str:
    """Whisper normalisation of `text` in `language` (`normalizer_for`); English: lower case, no
    punctuation, numbers as digits, US spelling."""
    if not isinstance(text, str):
        raise TypeError(f"normalize expects a str, got {type(text).__name__}: {text!r}")
    return normalizer_for(language)(text)


@dataclass(frozen=True)
class WordErrors:
    """Alignment counts of one hypothesis against one reference (after normalisation)."""

    substitutions: int
    deletions: int
    insertions: int
    n_ref: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions


def word_errors(ref: str, hyp: str, normalise: bool = True,
                language: str = ENGLISH) -> WordErrors:
    """Word errors of `hyp` against `ref` (normalised as `language` is: `normalizer_for`); an
    empty reference counts every hypothesis word as an insertion (jiwer refuses empty
    references)."""
    if normalise:
        ref, hyp = normalize(ref, language), normalize(hyp, language)
    r, h = ref.split(), hyp.split()
    if not r:
        return WordErrors(0, 0, len(h), 0)
    if not h:
        return WordErrors(0, len(r), 0, len(r))
    import jiwer
    out = jiwer.process_words(" ".join(r), " ".join(h))
    return WordErrors(out.substitutions, out.deletions, out.insertions, len(r))


@dataclass(frozen=True)
class WordOp:
    """One step of the alignment of a hypothesis to its reference: "equal", "substitute",
    "delete" (a reference word missing; `hyp` None) or "insert" (an extra word; `ref` None)."""

    op: str
    ref: str | None
    hyp: str | None


def align_words(ref: str, hyp: str, normalise: bool = True,
                language: str = ENGLISH) -> list[WordOp]:
    """The word alignment behind `word_errors` (same normalisation, same jiwer alignment), one
    WordOp per reference or hypothesis word; its non-"equal" steps count S + D + I."""
    if normalise:
        ref, hyp = normalize(ref, language), normalize(hyp, language)
    r, h = ref.split(), hyp.split()
    if not r or not h:
        return [WordOp("delete", w, None) for w in r] + [WordOp("insert", None, w) for w in h]
    import jiwer
    out: list[WordOp] = []
    for chunk in jiwer.process_words(" ".join(r), " ".join(h)).alignments[0]:
        rw = r[chunk.ref_start_idx:chunk.ref_end_idx]
        hw = h[chunk.hyp_start_idx:chunk.hyp_end_idx]
        if chunk.type == "insert":
            out += [WordOp("insert", None, w) for w in hw]
        elif chunk.type == "delete":
            out += [WordOp("delete", w, None) for w in rw]
        else:  # "equal" / "substitute": one to one
            out += [WordOp(chunk.type, a, b) for a, b in zip(rw, hw)]
    return out


def corpus_wer(refs: Sequence[str], hyps: Sequence[str], normalise: bool = True,
               language: str = ENGLISH) -> float:
    """Corpus-level WER (a fraction, not %): total errors / total reference words."""
    if len(refs) != len(hyps):
        raise ValueError(f"corpus_wer: {len(refs)} references but {len(hyps)} hypotheses")
    errs = [word_errors(r, h, normalise, language) for r, h in zip(refs, hyps)]
    return wer_from_counts([e.errors for e in errs], [e.n_ref for e in errs])


def wer_from_counts(errors: Sequence[int], n_ref: Sequence[int]) -> float:
    total = int(np.sum(n_ref))
    if total == 0:
        raise ValueError("WER is undefined: the references hold no words after normalisation")
    return float(np.sum(errors)) / total


def bootstrap_ci(errors: Sequence[int], n_ref: Sequence[int], n_boot: int = 1000,
                 alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the corpus WER, resampling utterances with replacement (seeded)."""
    e = np.asarray(errors, dtype=np.float64)
    n = np.asarray(n_ref, dtype=np.float64)
    if e.shape != n.shape or e.ndim != 1 or len(e) == 0:
        raise ValueError(f"bootstrap_ci: need two equal-length non-empty lists, got {e.shape} "
                         f"and {n.shape}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(e), size=(n_boot, len(e)))
    num, den = e[idx].sum(axis=1), n[idx].sum(axis=1)
    wers = num / np.maximum(den, 1.0)
    lo, hi = np.quantile(wers, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)
