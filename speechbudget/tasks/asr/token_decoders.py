"""Token decoders of the decoding loop (openai-whisper decoding.py: TokenDecoder.update/finalize):
`GreedyDecoder` (argmax), `SamplingDecoder` (temperature, best_of) and `BeamSearchDecoder`, and the
stop rules they share (`stop_rule`). Stop rules against repetition loops: each row decodes at
most `max_new_tokens[row]` tokens (the runner gives `tokens_per_s` x audio seconds + a margin) and
never beyond `max_target_positions`; and a row whose output ends in the same run of p tokens
repeated (3 times, and at least LOOP_MIN_TOKENS tokens in all: a loop, not "no, no, no") stops
there and keeps the first copy of the run (`loop_cut`). With timestamps the runs are compared by
their text tokens: a loop of timestamped segments repeats its text, not its timestamps (each copy
`<|t0|> text <|t1|>` has later ones), and keeps the first copy with the timestamps after it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import Tensor


LOOP_REPEATS = 3        # a run repeated this many times at the end of the output is a loop ...
LOOP_MIN_TOKENS = 12    # ... when the repeats hold at least this many tokens together
LOOP_MAX_PERIOD = 48    # longest run (tokens) looked for


def loop_cut(tokens: Sequence[int], ts_begin: int | None = None) -> int | None:
    """If `tokens` ends in a repetition loop (a run of p tokens repeated LOOP_REPEATS times, p *
    LOOP_REPEATS >= LOOP_MIN_TOKENS), the length to keep: up to the end of the loop's first copy.
    `ts_begin` (decoding with timestamps: the first timestamp token): tokens from it on are left
    out of the comparison (a timestamped loop's copies differ only in their timestamps), and the
    first copy keeps the timestamps that follow its text, so its segment stays complete."""
    if ts_begin is None:
        return _plain_loop_cut(tokens)
    where = [i for i, t in enumerate(tokens) if t < ts_begin]
    keep = _plain_loop_cut([tokens[i] for i in where])
    if keep is None:
        return None
    end = where[keep - 1] + 1
    while end < len(tokens) and tokens[end] >= ts_begin:
        end += 1
    return end


def _plain_loop_cut(tokens: Sequence[int]) -> int | None:
    n = len(tokens)
    for p in range(1, min(LOOP_MAX_PERIOD, n // LOOP_REPEATS) + 1):
        if p * LOOP_REPEATS < LOOP_MIN_TOKENS:
            continue
        tail = tokens[n - p:]
        if all(tokens[n - (k + 1) * p:n - k * p] == tail for k in range(1, LOOP_REPEATS)):
            return n - (LOOP_REPEATS - 1) * p
    return None

# ---- stop rules: one place for both strategies -------------------------------------------------
def stop_rule(tokens: list[int], limit: int, ts_begin: int | None = None
              ) -> tuple[int | None, bool]:
    """(length to keep if `tokens` ends in a repetition loop, whether the token limit is reached);
    `ts_begin`: the first timestamp token when decoding with timestamps (`loop_cut`)."""
    return loop_cut(tokens, ts_begin), len(tokens) >= limit


# ---- token decoders (openai-whisper decoding.py: TokenDecoder.update/finalize) -----------------
@dataclass
class _Hyp:
    row: int
    tokens: list[int]
    logprob: float
    entry: int = 0   # sampling: index of the hypothesis's generator
    # the sum of log-probabilities after each token (a loop cut keeps the sum of what it keeps)
    sums: list[float] = field(default_factory=list)


def kept_logprob(sums: Sequence[float], keep: int) -> float:
    """Sum of the log-probabilities of the first `keep` tokens, from the running sums."""
    return sums[keep - 1] if keep > 0 else 0.0


class GreedyDecoder:
    """One hypothesis per row: the argmax token."""

    def __init__(self, eos: int, ts_begin: int | None = None):
        self.eos, self.ts_begin = eos, ts_begin

    def update(self, hyps: list[_Hyp], logits: Tensor, limits: Sequence[int], done: dict
               ) -> tuple[list[_Hyp], list[int], list[int]]:
        """-> (live hypotheses, cache entry each continues from, token each feeds next); rows that
        finish go to `done[row]` = (tokens, sum logprob, by_limit, by_loop, generated)."""
        nxt = logits.argmax(-1)
        lp = (logits.gather(1, nxt[:, None])[:, 0] - logits.logsumexp(-1)).tolist()
        live, src, feed = [], [], []
        for j, (h, t) in enumerate(zip(hyps, nxt.tolist())):
            score = h.logprob + lp[j]
            if t == self.eos:
                done[h.row] = (h.tokens, score, False, False, len(h.tokens))
                continue
            toks, sums = h.tokens + [t], h.sums + [score]
            cut, at_limit = stop_rule(toks, limits[h.row], self.ts_begin)
            if cut is not None:
                done[h.row] = (toks[:cut], kept_logprob(sums, cut), False, True, len(toks))
            elif at_limit:
                done[h.row] = (toks, score, True, False, len(toks))
            else:
                live.append(_Hyp(h.row, toks, score, sums=sums))
                src.append(j)
                feed.append(t)
        return live, src, feed

    def start(self, rows: Sequence[int]) -> list[_Hyp]:
        return [_Hyp(r, [], 0.0) for r in rows]

    group = 1
    reorders = False


class SamplingDecoder:
    """Temperature sampling, `best_of` independent samples per row (openai-whisper's GreedyDecoder
    with temperature > 0 and its MaximumLikelihoodRanker): each sample draws its next token from
    softmax(logits / temperature) (Gumbel-max with noise from its own seeded generator, so a row
    samples the same tokens whatever else is in the batch) and leaves the batch at eos, the token
    limit or a repetition loop; a row is done when all its samples are, and keeps the one with the
    best `score`. Log-probabilities are of the untempered logits, as openai-whisper."""

    reorders = False

    def __init__(self, eos: int, temperature: float, best_of: int, seeds: Sequence[int], score,
                 device, ts_begin: int | None = None):
        if not temperature > 0:
            raise ValueError(f"temperature={temperature!r}: sampling needs a temperature > 0")
        self.eos, self.T, self.group, self.score = eos, float(temperature), int(best_of), score
        self.ts_begin = ts_begin
        self.gens = []
        for seed in seeds:
            for k in range(self.group):
                g = torch.Generator(device=device)
                g.manual_seed((int(seed) * 1_000_003 + k) % 2**63)
                self.gens.append(g)
        self.finished: dict[int, list[tuple]] = {}
        self.counts: dict[int, list[int]] = {}

    def start(self, rows: Sequence[int]) -> list[_Hyp]:
        self.finished = {r: [] for r in rows}
        self.counts = {r: [] for r in rows}
        return [_Hyp(r, [], 0.0, r * self.group + k) for r in rows for k in range(self.group)]

    def update(self, hyps, logits, limits, done):
        noise = torch.stack([torch.rand(logits.shape[-1], generator=self.gens[h.entry],
                                        device=logits.device) for h in hyps])
        gumbel = -torch.log(-torch.log(noise.clamp_min(1e-20)))
        nxt = (logits / self.T + gumbel).argmax(-1)
        lp = (logits.gather(1, nxt[:, None])[:, 0] - logits.logsumexp(-1)).tolist()
        live, src, feed = [], [], []
        for j, (h, t) in enumerate(zip(hyps, nxt.tolist())):
            score = h.logprob + lp[j]
            fin = None
            if t == self.eos:
                fin = (h.tokens, score, False, False, len(h.tokens), len(h.tokens) + 1)
            else:
                toks, sums = h.tokens + [t], h.sums + [score]
                cut, at_limit = stop_rule(toks, limits[h.row], self.ts_begin)
                if cut is not None:
                    fin = (toks[:cut], kept_logprob(sums, cut), False, True, len(toks), len(toks))
                elif at_limit:
                    fin = (toks, score, True, False, len(toks), len(toks))
                else:
                    live.append(_Hyp(h.row, toks, score, h.entry, sums))
                    src.append(j)
                    feed.append(t)
            if fin is not None:
                self.finished[h.row].append(fin[:5])
                self.counts[h.row].append(fin[5])
                if len(self.finished[h.row]) == self.group:
                    done[h.row] = max(self.finished[h.row],
                                      key=lambda f: self.score(f[0], f[1]))
        return live, src, feed


class BeamSearchDecoder:
    """As openai-whisper's BeamSearchDecoder with patience 1: each row keeps `beam` live
    hypotheses; one ending in eos is finished; a row stops once it has `beam` finished ones or its
    hypotheses reach the token limit; the best by `score` wins (repetition loops cut after)."""

    reorders = True

    def __init__(self, eos: int, beam: int, score, ts_begin: int | None = None):
        self.eos, self.K, self.score, self.ts_begin = eos, beam, score, ts_begin
        self.group = beam
        self.finished: dict[int, list[tuple[list[int], float]]] = {}

    def start(self, rows: Sequence[int]) -> list[_Hyp]:
        self.finished = {r: [] for r in rows}
        return [_Hyp(r, [], 0.0 if b == 0 else float("-inf")) for r in rows for b in range(self.K)]

    def update(self, hyps, logits, limits, done):
        K = self.K
        logp = torch.log_softmax(logits, dim=-1)
        V = logp.shape[-1]
        n_rows = len(hyps) // K
        cum = torch.tensor([h.logprob for h in hyps], device=logp.device)
        scores = (logp + cum[:, None]).view(n_rows, K * V)
        top_s, top_i = scores.topk(2 * K, dim=-1)
        top_s, top_i = top_s.tolist(), top_i.tolist()
        live, src, feed = [], [], []
        for g in range(n_rows):
            r = hyps[g * K].row
            fin = self.finished[r]
            new: list[tuple[_Hyp, int, int]] = []
            for sc, flat in zip(top_s[g], top_i[g]):
                if sc == float("-inf"):
                    break
                b, t = divmod(flat, V)
                seq, sums = hyps[g * K + b].tokens, hyps[g * K + b].sums
                if t == self.eos:
                    if len(fin) < K:
                        fin.append((seq, sc, sums))
                    continue
                new.append((_Hyp(r, seq + [t], sc, sums=sums + [sc]), g * K + b, t))
                if len(new) == K:
                    break
            while len(new) < K:  # fewer than K continuations: pad with dead beams
                new.append((_Hyp(r, [], float("-inf")), g * K, self.eos))
            _, at_limit = stop_rule(new[0][0].tokens, limits[r])
            # no live continuation left (every one ended or is impossible: -inf): done, else the
            # dead beams would be fed on until the positions run out
            dead = new[0][0].logprob == float("-inf")
            if len(fin) >= K or at_limit or dead:
                by_limit = at_limit and not fin
                if at_limit and len(fin) < K:
                    fin.extend((h.tokens, h.logprob, h.sums) for h, _, _ in new
                               if h.logprob > float("-inf"))
                done[r] = self._finalize(fin, by_limit)
            else:
                for h, s_, t in new:
                    live.append(h)
                    src.append(s_)
                    feed.append(t)
        return live, src, feed

    def _finalize(self, cands, by_limit):
        best = max(cands or [([], 0.0, [])], key=lambda h: self.score(h[0], h[1]))
        cut = loop_cut(best[0], self.ts_begin)
        if cut is None:
            return best[0], best[1], by_limit, False, len(best[0])
        return best[0][:cut], kept_logprob(best[2], cut), by_limit, True, len(best[0])
