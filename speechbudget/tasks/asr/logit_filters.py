"""Logit filters of the decoding loop (openai-whisper decoding.py: LogitFilter.apply), applied to
each step's logits before the token decoder picks: `SuppressTokens` always, `TimestampRules`
with timestamps (`decode.WhisperDecoderRunner.run`)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


class LogitFilter:
    def apply(self, logits: Tensor, seqs: Sequence[Sequence[int]], rows: Sequence[int],
              step: int) -> None:
        """Mask `logits` [n, V] in place; seqs[j]: tokens generated so far by entry j, which
        decodes row rows[j]; step = len(seqs[j])."""
        raise NotImplementedError


class SuppressTokens(LogitFilter):
    """`suppress` always; `begin` too at the first step (blank and eos as the first token)."""

    def __init__(self, suppress: Tensor, begin: Tensor):
        self.suppress, self.begin = suppress, begin

    def apply(self, logits, seqs, rows, step):
        logits.masked_fill_(self.begin if step == 0 else self.suppress, float("-inf"))


class TimestampRules(LogitFilter):
    """Whisper's ApplyTimestampRules: <|notimestamps|> never; timestamps come in pairs (after a
    lone timestamp: text is forbidden if the one before was text, another timestamp if it was a
    timestamp); they never decrease (and a segment is never empty); the first token is a
    timestamp <= `max_initial` steps; if the timestamps' total probability exceeds the likeliest
    text token's, a timestamp is taken."""

    def __init__(self, ts_begin: int, eos: int, no_ts: int | None, max_initial: int | None,
                 vocab: int, device):
        self.tb, self.eos, self.no_ts, self.max_initial = ts_begin, eos, no_ts, max_initial
        self.vocab = torch.arange(vocab, device=device)

    def apply(self, logits, seqs, rows, step):
        n, V = logits.shape
        tb = self.tb
        if self.no_ts is not None:
            logits[:, self.no_ts] = float("-inf")
        lo, hi, no_text, no_ts = [], [], [], []
        for j, seq in enumerate(seqs):
            top = V - 1 - tb
            last = len(seq) >= 1 and seq[-1] >= tb
            penult = len(seq) < 2 or seq[-2] >= tb
            no_ts.append(last and penult)
            no_text.append(last and not penult)
            stamps = [t for t in seq if t >= tb]
            low = 0
            if stamps:
                low = stamps[-1] - tb + (0 if last and not penult else 1)
            if not seq:
                if self.max_initial is not None:
                    top = min(top, self.max_initial)
            lo.append(low)
            hi.append(top)
        dev = logits.device
        v = self.vocab[None, :V]
        rel = v - tb
        lo_t = torch.tensor(lo, device=dev)[:, None]
        hi_t = torch.tensor(hi, device=dev)[:, None]
        ts_bad = (rel >= 0) & ((rel < lo_t) | (rel > hi_t) |
                               torch.tensor(no_ts, device=dev)[:, None])
        text_bad = (v < self.eos) & torch.tensor(no_text, device=dev)[:, None]
        if step == 0:
            text_bad = text_bad | (v < tb)
        logits.masked_fill_(ts_bad | text_bad, float("-inf"))
        ts_mass = logits[:, tb:].logsumexp(-1)
        text_max = logits[:, :tb].max(-1).values
        take_ts = ts_mass > text_max
        if bool(take_ts.any()):
            logits[:, :tb].masked_fill_(take_ts[:, None], float("-inf"))
