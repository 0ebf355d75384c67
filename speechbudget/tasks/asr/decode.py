"""Whisper decoding from encoder states of any length: batched greedy, beam search and temperature
sampling (best_of, seeded per row), KV-cached, with or without timestamp tokens, each row with its
own previous-text prompt (<|startofprev|> + up to 223 tokens; rows left-padded and masked).

One decoding loop (`WhisperDecoderRunner.run`) for every strategy, as openai-whisper's decoding.py:
logits -> each `LogitFilter.apply` (`SuppressTokens`; `TimestampRules` with timestamps) -> the
strategy's `update` (`GreedyDecoder`: argmax; `BeamSearchDecoder`: top-k over beams) -> finished
rows leave the batch; the stop rules (`stop_rule`: repetition-loop cut, token limit) are one
function both strategies call. Without timestamps greedy output is token-identical to the former
loop (and to CTranslate2: tests/models/test_real_weights.py). The no-speech probability is the
softmax at the <|startoftranscript|> position of the prompt pass; `avg_logprob` = sum of the chosen
tokens' log-probabilities (after the filters, eos included) / (tokens + 1), as openai-whisper; a row
whose repetition loop is cut sums the tokens it keeps only, as if decoding had stopped there (the
loop's copies are confident and would vouch for the text before them; the references, which do not
cut, catch a loop by its compression ratio instead, which the cut text no longer shows).

Hugging Face `generate(input_features=...)` pads features back to 30 s, so a shorter window (xT) or a
token stride (xV) would save nothing there. Here the decoder runs from `encoder_out` directly, reusing
the weights of the HF decoder modules (`model.model.decoder`, `model.proj_out`) in a small loop:

    cross K/V = k_proj(enc), v_proj(enc)    once per layer and utterance (fewer tokens with xV)
    x = embed_tokens(prompt) + pos[:P]      prompt in one step, causal
    loop: for each layer  x += self_attn(ln(x), cache);  x += cross_attn(ln(x), K/V);  x += mlp(ln(x))
          logits = proj_out(layer_norm(x[:, -1])); suppress; argmax (or beam top-k); append
          finished rows leave the batch (their caches are dropped with index_select)

Rows may have encoder states of different lengths (dynamic windows): they are right-padded and the
padding is masked out of cross-attention. Stop rules against repetition loops: each row decodes at
most `max_new_tokens[row]` tokens (the runner gives `tokens_per_s` x audio seconds + a margin) and
never beyond `max_target_positions`; and a row whose output ends in the same run of p tokens
repeated (3 times, and at least LOOP_MIN_TOKENS tokens in all: a loop, not "no, no, no") stops
there and keeps the first copy of the run (`loop_cut`).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from speechbudget.geometry import TIMESTAMP_RESOLUTION_S


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
    def from_bundle(cls, bundle, beam_size: int = 1, timestamps: bool = False
                    ) -> "DecodeOptions":
        """Options from a `models.loading.WhisperBundle`: its prompt, eos and suppression lists.
        Without timestamps every special token after eos but eos is suppressed (sot, language,
        task, notimestamps and timestamp tokens), as openai-whisper does; with timestamps the
        specials up to <|notimestamps|> are, the prompt drops <|notimestamps|> and timestamp
        tokens follow `TimestampRules`. Special ids: the bundle's `no_timestamps_id` /
        `timestamp_begin` / `no_speech_id` if it has them, else Whisper's layout (the prompt ends
        in <|notimestamps|>, <|0.00|> follows it and <|nocaptions|> precedes it)."""
        model = bundle.model
        vocab = model.config.vocab_size
        eos = int(bundle.eos_id)
        prompt = [int(t) for t in bundle.prompt_ids]
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


@dataclass
class _State:
    """Per-layer self-attention K/V caches [B, H, S, hd] and cross-attention K/V [B, H, T, hd]."""

    self_k: list[Tensor]
    self_v: list[Tensor]
    cross_k: list[Tensor]
    cross_v: list[Tensor]
    cross_mask: Tensor | None  # [B, 1, 1, T] bool (True = attend) or None
    length: int = 0
    # rows with prompts of different lengths (a previous-text prefix) are left-padded: `offset`
    # [B] = padding slots of each row (its positions are slot - offset), `self_mask` [B, 1, 1,
    # slots] = False on them; None when no row is padded
    offset: Tensor | None = None
    self_mask: Tensor | None = None

    def select(self, idx: Tensor) -> None:
        for lst in (self.self_k, self.self_v, self.cross_k, self.cross_v):
            for i, t in enumerate(lst):
                lst[i] = t.index_select(0, idx)
        for name in ("cross_mask", "offset", "self_mask"):
            t = getattr(self, name)
            if t is not None:
                setattr(self, name, t.index_select(0, idx))


LOOP_REPEATS = 3        # a run repeated this many times at the end of the output is a loop ...
LOOP_MIN_TOKENS = 12    # ... when the repeats hold at least this many tokens together
LOOP_MAX_PERIOD = 48    # longest run (tokens) looked for


def loop_cut(tokens: Sequence[int]) -> int | None:
    """If `tokens` ends in a repetition loop (a run of p tokens repeated LOOP_REPEATS times, p *
    LOOP_REPEATS >= LOOP_MIN_TOKENS), the length to keep: up to the end of the loop's first copy."""
    n = len(tokens)
    for p in range(1, min(LOOP_MAX_PERIOD, n // LOOP_REPEATS) + 1):
        if p * LOOP_REPEATS < LOOP_MIN_TOKENS:
            continue
        tail = tokens[n - p:]
        if all(tokens[n - (k + 1) * p:n - k * p] == tail for k in range(1, LOOP_REPEATS)):
            return n - (LOOP_REPEATS - 1) * p
    return None


@dataclass
class DecodeResult:
    tokens: list[list[int]]  # new tokens per row, without prompt and eos (loops cut)
    stopped_by_limit: list[bool] = field(default_factory=list)  # hit max_new_tokens (no eos)
    stopped_by_loop: list[bool] = field(default_factory=list)   # a repetition loop was cut
    generated: list[int] = field(default_factory=list)  # tokens computed per row, before any cut
    # sum logprob / (tokens + 1) over the tokens kept (a loop cut: its first copy, as if stopped there)
    avg_logprob: list[float] = field(default_factory=list)
    no_speech_prob: list[float] = field(default_factory=list)  # P(no-speech) at the sot position
    prompt_tokens: list[int] = field(default_factory=list)  # prompt length of each row (prefix too)
    # per row, the tokens each hypothesis run in parallel fed through the decoder as the FLOPs
    # count them (end-of-text included): beam K: K equal counts; sampling best_of n: n counts
    hypothesis_tokens: list[list[int]] = field(default_factory=list)


# ---- logit filters (openai-whisper decoding.py: LogitFilter.apply) ------------------------------
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


# ---- stop rules: one place for both strategies -------------------------------------------------
def stop_rule(tokens: list[int], limit: int) -> tuple[int | None, bool]:
    """(length to keep if `tokens` ends in a repetition loop, whether the token limit is reached)."""
    return loop_cut(tokens), len(tokens) >= limit


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

    def __init__(self, eos: int):
        self.eos = eos

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
            cut, at_limit = stop_rule(toks, limits[h.row])
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
                 device):
        if not temperature > 0:
            raise ValueError(f"temperature={temperature!r}: sampling needs a temperature > 0")
        self.eos, self.T, self.group, self.score = eos, float(temperature), int(best_of), score
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
                cut, at_limit = stop_rule(toks, limits[h.row])
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

    def __init__(self, eos: int, beam: int, score):
        self.eos, self.K, self.score = eos, beam, score
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
            if len(fin) >= K or at_limit:
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
        cut = loop_cut(best[0])
        if cut is None:
            return best[0], best[1], by_limit, False, len(best[0])
        return best[0][:cut], kept_logprob(best[2], cut), by_limit, True, len(best[0])


class WhisperDecoderRunner:
    """Greedy/beam decoding with the weights of a HF `WhisperForConditionalGeneration`."""

    #: allow cuDNN's attention kernels on a GPU (off: see `run`)
    cudnn_attention: bool = False

    def __init__(self, model: nn.Module, options: DecodeOptions):
        self.model = model
        self.decoder = model.model.decoder
        self.proj_out = model.proj_out
        self.opt = options
        cfg = model.config
        self.n_heads = cfg.decoder_attention_heads
        self.d = cfg.d_model
        self.hd = self.d // self.n_heads
        self.act = _activation(cfg.activation_function)
        vocab = cfg.vocab_size
        dev = self.decoder.embed_tokens.weight.device
        self.suppress = torch.zeros(vocab, dtype=torch.bool, device=dev)
        if options.suppress_tokens:
            self.suppress[list(options.suppress_tokens)] = True
        self.begin_suppress = self.suppress.clone()
        if options.begin_suppress_tokens:
            self.begin_suppress[list(options.begin_suppress_tokens)] = True
        self._fused = [_fuse_qkv(layer.self_attn) for layer in self.decoder.layers]
        self.ts_rules = None
        if options.timestamps:
            if options.timestamp_begin is None:
                raise ValueError("DecodeOptions.timestamps: needs timestamp_begin")
            mi = options.max_initial_timestamp_s
            self.ts_rules = TimestampRules(
                options.timestamp_begin, options.eos_id, options.no_timestamps_id,
                None if mi is None else int(round(mi / TIMESTAMP_RESOLUTION_S)), vocab, dev)

    # ---- building blocks --------------------------------------------------------------------
    def _heads(self, x: Tensor) -> Tensor:  # [B, S, d] -> [B, H, S, hd]
        B, S, _ = x.shape
        return x.view(B, S, self.n_heads, self.hd).transpose(1, 2)

    def _merge(self, x: Tensor) -> Tensor:  # [B, H, S, hd] -> [B, S, d]
        B, H, S, hd = x.shape
        return x.transpose(1, 2).reshape(B, S, H * hd)

    def _start(self, enc: Tensor, enc_lengths: Sequence[int] | None, max_len: int) -> _State:
        B, T, _ = enc.shape
        mask = None
        if enc_lengths is not None and any(int(n) != T for n in enc_lengths):
            lengths = torch.as_tensor(list(enc_lengths), device=enc.device)
            mask = (torch.arange(T, device=enc.device)[None] < lengths[:, None])[:, None, None, :]
        ck, cv, sk, sv = [], [], [], []
        for layer in self.decoder.layers:
            att = layer.encoder_attn
            ck.append(self._heads(att.k_proj(enc)))
            cv.append(self._heads(att.v_proj(enc)))
            sk.append(enc.new_zeros(B, self.n_heads, max_len, self.hd))
            sv.append(enc.new_zeros(B, self.n_heads, max_len, self.hd))
        return _State(sk, sv, ck, cv, mask)

    def _step(self, tokens: Tensor, st: _State, extra: int | None = None
              ) -> tuple[Tensor, Tensor | None]:
        """Run tokens [B, S] at positions st.length.. through the decoder: (logits of the last
        one, logits at position `extra` of this pass or None)."""
        S = tokens.shape[1]
        x = self._layers(tokens, st)
        if extra is None:
            return self.proj_out(self.decoder.layer_norm(x[:, -1])).float(), None
        both = self.proj_out(self.decoder.layer_norm(x[:, [extra, S - 1]])).float()
        return both[:, 1].contiguous(), both[:, 0].contiguous()

    def _layers(self, tokens: Tensor, st: _State,
                cross_qk: dict[int, list[int]] | None = None) -> Tensor:
        """The decoder layers over tokens [B, S] at positions st.length..: hidden states [B, S,
        d] before the final norm. `cross_qk` {layer: heads}: those layers' cross-attention runs
        explicitly (the same attention, not SDPA) and the dict gets {layer: the chosen heads'
        scaled logits [B, len(heads), S, T] in float32} (word timestamps)."""
        S = tokens.shape[1]
        pos = st.length
        table = self.decoder.embed_positions.weight
        self_mask = None
        if st.offset is None:
            x = self.decoder.embed_tokens(tokens) + table[pos:pos + S]
        else:  # left-padded rows: position = slot - padding; padding slots are never attended
            slots = torch.arange(pos, pos + S, device=tokens.device)
            x = self.decoder.embed_tokens(tokens) + \
                table[(slots[None] - st.offset[:, None]).clamp_min(0)]
            self_mask = st.self_mask[..., :pos + S]
            if S > 1:  # the prompt pass: causal too; a padding slot attends to itself (no NaN)
                keys = torch.arange(pos + S, device=tokens.device)
                causal = keys[None, :] <= slots[:, None]
                self_mask = (self_mask & causal) | (keys[None, :] == slots[:, None])
        for i, layer in enumerate(self.decoder.layers):
            sa = layer.self_attn
            h = layer.self_attn_layer_norm(x)
            if self._fused[i] is not None:  # one matmul for q (pre-scaled), k, v
                q, k_new, v_new = F.linear(h, *self._fused[i]).split(self.d, dim=-1)
                q = self._heads(q)
            else:
                q = self._heads(sa.q_proj(h) * sa.scaling)
                k_new, v_new = sa.k_proj(h), sa.v_proj(h)
            st.self_k[i][:, :, pos:pos + S] = self._heads(k_new)
            st.self_v[i][:, :, pos:pos + S] = self._heads(v_new)
            k, v = st.self_k[i][:, :, :pos + S], st.self_v[i][:, :, :pos + S]
            a = _attend(q, k, v, mask=self_mask, causal=S > 1 and pos == 0 and self_mask is None)
            x = x + sa.out_proj(self._merge(a))
            ca = layer.encoder_attn
            h = layer.encoder_attn_layer_norm(x)
            q = self._heads(ca.q_proj(h) * ca.scaling)
            if cross_qk is not None and i in cross_qk:
                w = q @ st.cross_k[i].transpose(-1, -2)
                if st.cross_mask is not None:
                    w = w.masked_fill(~st.cross_mask, float("-inf"))
                a = w.softmax(-1) @ st.cross_v[i]
                cross_qk[i] = w[:, cross_qk[i]].float()
            else:
                a = _attend(q, st.cross_k[i], st.cross_v[i], mask=st.cross_mask)
            x = x + ca.out_proj(self._merge(a))
            h = layer.final_layer_norm(x)
            x = x + layer.fc2(self.act(layer.fc1(h)))
        st.length = pos + S
        return x

    @torch.inference_mode()
    def teacher_forced(self, enc: Tensor, sequences: Sequence[Sequence[int]],
                       heads: Sequence[tuple[int, int]], prob_from: int,
                       enc_lengths: Sequence[int] | None = None
                       ) -> tuple[Tensor, list[list[float]]]:
        """One pass of whole token sequences (rows right-padded with eos; causal, so the padding
        changes nothing before it) over encoder states [B, T, d]: (the cross-attention logits of
        the (layer, head) pairs `heads`, [B, len(heads), S, T] float32, and per row the
        probability of each token after position `prob_from`, given the tokens before it, under
        a softmax over the text vocabulary (ids < eos; a special token gets 0), up to the row's
        last token). The LM head runs at those positions only. For word
        timestamps (`tasks.asr.word_timing`), as openai-whisper's `find_alignment` and
        CTranslate2's `align`: no previous-text prefix, no filters."""
        B = enc.shape[0]
        if len(sequences) != B:
            raise ValueError(f"teacher_forced: {len(sequences)} sequences for {B} rows")
        S = max(len(q) for q in sequences)
        if S > self.opt.max_target_positions:
            raise ValueError(f"teacher_forced: {S} tokens, more than the decoder's "
                             f"{self.opt.max_target_positions} positions")
        eos = self.opt.eos_id
        tokens = torch.tensor([list(q) + [eos] * (S - len(q)) for q in sequences],
                              device=enc.device)
        wanted: dict[int, list[int]] = {}
        for layer, head in heads:
            wanted.setdefault(int(layer), []).append(int(head))
        qk = dict(wanted)
        with self._attention_kernels(enc.device):
            st = self._start(enc, enc_lengths, S)
            x = self._layers(tokens, st, cross_qk=qk)
            n = max(0, max(len(q) for q in sequences) - 1 - prob_from)
            logits = self.proj_out(self.decoder.layer_norm(x[:, prob_from:prob_from + n])).float()
        logp = logits[..., :eos].log_softmax(-1)
        nxt = tokens[:, prob_from + 1:prob_from + 1 + n]
        picked = logp.gather(-1, nxt.clamp_max(eos - 1)[..., None])[..., 0].exp()
        picked = torch.where(nxt < eos, picked, torch.zeros_like(picked))  # specials: 0
        probs = [picked[b, :max(0, len(q) - 1 - prob_from)].tolist()
                 for b, q in enumerate(sequences)]
        weights = torch.stack([qk[int(layer)][:, wanted[int(layer)].index(int(head))]
                               for layer, head in heads], dim=1)
        return weights, probs

    def _max_new(self, max_new_tokens: int | Sequence[int], B: int,
                 prompt_lens: Sequence[int] | None = None) -> list[int]:
        if isinstance(max_new_tokens, int):
            max_new_tokens = [max_new_tokens] * B
        if len(max_new_tokens) != B:
            raise ValueError(f"max_new_tokens: {len(max_new_tokens)} values for {B} rows")
        if prompt_lens is None:
            prompt_lens = [len(self.opt.prompt_ids)] * B
        return [max(1, min(int(m), self.opt.max_target_positions - int(p)))
                for m, p in zip(max_new_tokens, prompt_lens)]

    # ---- the decoding loop (one for every strategy) ------------------------------------------
    @torch.inference_mode()
    def run(self, enc: Tensor, enc_lengths: Sequence[int] | None = None,
            max_new_tokens: int | Sequence[int] = 224, beam_size: int | None = None,
            previous: Sequence[Sequence[int]] | None = None, temperature: float = 0.0,
            best_of: int = 1, seeds: Sequence[int] | None = None) -> DecodeResult:
        """See `_run`, under `_attention_kernels`."""
        with self._attention_kernels(enc.device):
            return self._run(enc, enc_lengths, max_new_tokens, beam_size, previous, temperature,
                             best_of, seeds)

    def _attention_kernels(self, device: torch.device) -> Any:
        """On a GPU, SDPA without cuDNN's kernel: it builds an execution plan for every new
        shape, and the self-attention's key length grows by one every step (in fp16 that cost
        about 15 ms a step on an H200: benchmarks/results/gpu/). Elsewhere, as it is."""
        if device.type != "cuda" or self.cudnn_attention:
            return contextlib.nullcontext()
        from torch.nn.attention import SDPBackend, sdpa_kernel
        return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                            SDPBackend.MATH])

    def _run(self, enc: Tensor, enc_lengths: Sequence[int] | None = None,
             max_new_tokens: int | Sequence[int] = 224, beam_size: int | None = None,
             previous: Sequence[Sequence[int]] | None = None, temperature: float = 0.0,
             best_of: int = 1, seeds: Sequence[int] | None = None) -> DecodeResult:
        """Decode encoder states [B, T, d] (rows padded to T, true lengths in `enc_lengths`) with
        greedy (beam 1), beam search or, at `temperature` > 0, sampling (`best_of` samples per
        row, `seeds[row]` seeding its generators) over the same loop: logits -> filters ->
        decoder.update -> finished rows leave the batch. `previous[row]`:
        the text tokens of the windows before (conditioning): the row's prompt is then
        <|startofprev|> + their last max_target_positions // 2 - 1 + the prompt, as openai-whisper;
        rows with prompts of different lengths are left-padded and the padding masked."""
        B = enc.shape[0]
        prefixes = self._prefixes(previous, B)
        base = list(self.opt.prompt_ids)
        Lp = max((len(p) for p in prefixes), default=0)
        prompt_lens = [len(p) + len(base) for p in prefixes]
        limits = self._max_new(max_new_tokens, B, prompt_lens)
        if temperature > 0:
            decoder = SamplingDecoder(self.opt.eos_id, temperature, best_of,
                                      seeds if seeds is not None else [0] * B, self._score,
                                      enc.device)
        else:
            K = beam_size or self.opt.beam_size
            decoder = BeamSearchDecoder(self.opt.eos_id, K, self._score) if K > 1 \
                else GreedyDecoder(self.opt.eos_id)
        G = decoder.group
        if G > 1:
            enc = enc.repeat_interleave(G, dim=0)
            enc_lengths = None if enc_lengths is None else [int(n) for n in enc_lengths
                                                            for _ in range(G)]
        P = Lp + len(base)
        st = self._start(enc, enc_lengths, P + max(limits) + 1)
        if Lp:
            pad = [Lp - len(p) for p in prefixes for _ in range(G)]
            rows = [[base[0]] * (Lp - len(p)) + p + base for p in prefixes for _ in range(G)]
            prompt = torch.tensor(rows, device=enc.device)
            st.offset = torch.tensor(pad, device=enc.device)
            slots = torch.arange(st.self_k[0].shape[2], device=enc.device)
            st.self_mask = (slots[None, :] >= st.offset[:, None])[:, None, None, :]
        else:
            prompt = torch.tensor([base], device=enc.device).expand(enc.shape[0], P)
        extra = self._sot_extra()
        logits, at_sot = self._step(prompt, st, extra=None if extra is None else Lp + extra)
        no_speech = self._no_speech(at_sot if at_sot is not None else logits, G)
        filters: list[LogitFilter] = [SuppressTokens(self.suppress, self.begin_suppress)]
        if self.ts_rules is not None:
            filters.append(self.ts_rules)
        hyps = decoder.start(range(B))
        done: dict[int, tuple] = {}
        n_batch = len(hyps)  # entries in the caches (finished ones linger until a shrink)
        pos = list(range(len(hyps)))  # cache entry of each live hypothesis
        step = 0
        while hyps:
            if len(pos) != logits.shape[0] or pos != list(range(len(pos))):
                logits = logits[torch.tensor(pos, device=logits.device)]
            seqs = [h.tokens for h in hyps]
            rows_ = [h.row for h in hyps]
            for f in filters:
                f.apply(logits, seqs, rows_, step)
            hyps, src, feed = decoder.update(hyps, logits, limits, done)
            if not hyps:
                break
            src_entries = [pos[j] for j in src]
            # finished rows leave the batch once they are a quarter of it (copying the caches for
            # every single finished row costs more than computing a few dead rows); beam search
            # reorders the caches every step anyway
            if decoder.reorders or len(hyps) <= 0.75 * n_batch:
                st.select(torch.tensor(src_entries, device=enc.device))
                pos, n_batch = list(range(len(hyps))), len(hyps)
                tok = torch.tensor(feed, device=enc.device)
            else:
                pos = src_entries
                tok = torch.full((n_batch,), self.opt.eos_id, dtype=torch.long, device=enc.device)
                tok[torch.tensor(pos, device=enc.device)] = torch.tensor(feed, device=enc.device)
            logits, _ = self._step(tok[:, None], st)
            step += 1
        out = [done[r] for r in range(B)]
        if isinstance(decoder, SamplingDecoder):
            hyp_tokens = [list(decoder.counts[r]) for r in range(B)]
        else:
            hyp_tokens = [[o[4] + (0 if o[2] or o[3] else 1)] * G for o in out]
        return DecodeResult([o[0] for o in out], [o[2] for o in out], [o[3] for o in out],
                            [o[4] for o in out], [o[1] / (len(o[0]) + 1) for o in out], no_speech,
                            prompt_lens, hyp_tokens)

    def _prefixes(self, previous: Sequence[Sequence[int]] | None, B: int) -> list[list[int]]:
        """Per row: [] or <|startofprev|> + the last max_target_positions // 2 - 1 previous tokens."""
        if previous is None:
            return [[] for _ in range(B)]
        if len(previous) != B:
            raise ValueError(f"previous: {len(previous)} token lists for {B} rows")
        if any(previous) and self.opt.sot_prev_id is None:
            raise ValueError("previous text given, but DecodeOptions.sot_prev_id is None")
        keep = self.opt.max_target_positions // 2 - 1
        return [[self.opt.sot_prev_id] + [int(t) for t in p][-keep:] if len(p) else []
                for p in previous]

    def greedy(self, enc: Tensor, enc_lengths: Sequence[int] | None = None,
               max_new_tokens: int | Sequence[int] = 224, **kw) -> DecodeResult:
        return self.run(enc, enc_lengths, max_new_tokens, beam_size=1, **kw)

    def beam(self, enc: Tensor, enc_lengths: Sequence[int] | None = None,
             max_new_tokens: int | Sequence[int] = 224, beam_size: int | None = None,
             **kw) -> DecodeResult:
        return self.run(enc, enc_lengths, max_new_tokens, beam_size=beam_size, **kw)

    def decode(self, enc: Tensor, enc_lengths: Sequence[int] | None = None,
               max_new_tokens: int | Sequence[int] = 224, **kw) -> DecodeResult:
        return self.run(enc, enc_lengths, max_new_tokens, **kw)

    @property
    def no_speech_extra(self) -> bool:
        """Whether the prompt pass computes LM-head logits at one more position (the sot's)."""
        return self._sot_extra() is not None

    def _sot_extra(self) -> int | None:
        """Prompt position whose logits give the no-speech probability, when it is not the last
        (the last position's logits are computed anyway)."""
        if self.opt.no_speech_id is None:
            return None
        i = self.opt.sot_index
        return None if i == len(self.opt.prompt_ids) - 1 else i

    def _no_speech(self, logits: Tensor, K: int) -> list[float]:
        """P(no-speech) per row from the logits of each row's first entry (K entries per row)."""
        if self.opt.no_speech_id is None:
            return [0.0] * (logits.shape[0] // K)
        p = logits[::K].softmax(-1)[:, self.opt.no_speech_id]
        return p.tolist()

    def _score(self, tokens: list[int], logprob: float) -> float:
        n = max(1, len(tokens))
        lp = self.opt.length_penalty
        return logprob / (n if lp is None else ((5 + n) / 6) ** lp)


def _attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None,
            causal: bool = False) -> Tensor:
    """Attention with q already scaled (SDPA; measured faster on CPU than two explicit matmuls
    even for the one-query decoding steps, which would copy the transposed keys every step)."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=1.0)


def _fuse_qkv(att: nn.Module) -> tuple[Tensor, Tensor] | None:
    """(weight, bias) of q (times the attention scaling), k, v stacked, when they are plain
    nn.Linear layers (fp32/bf16); None for quantised or wrapped (e.g. LoRA) projections."""
    projs = (att.q_proj, att.k_proj, att.v_proj)
    if not all(type(p) is nn.Linear for p in projs):
        return None
    with torch.no_grad():
        w = torch.cat([att.q_proj.weight * att.scaling, att.k_proj.weight, att.v_proj.weight])
        zero = torch.zeros_like(att.v_proj.weight[:, 0])
        b = torch.cat([att.q_proj.bias * att.scaling if att.q_proj.bias is not None else zero,
                       att.k_proj.bias if att.k_proj.bias is not None else zero,
                       att.v_proj.bias if att.v_proj.bias is not None else zero])
    return w, b


def _activation(name: str):
    from transformers.activations import ACT2FN
    return ACT2FN[name]
