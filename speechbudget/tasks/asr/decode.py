"""Whisper decoding from encoder states of any length: batched greedy and beam search, KV-cached.

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

from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class DecodeOptions:
    """What to decode: the prompt, the end token and the tokens that may never (or not first) come."""

    prompt_ids: tuple[int, ...]
    eos_id: int
    suppress_tokens: tuple[int, ...] = ()
    begin_suppress_tokens: tuple[int, ...] = ()
    beam_size: int = 1
    length_penalty: float | None = None  # None: score = sum logprob / length (Whisper, faster-whisper)
    max_target_positions: int = 448

    @classmethod
    def from_bundle(cls, bundle, beam_size: int = 1) -> "DecodeOptions":
        """Options from a `models.loading.WhisperBundle`: its prompt, eos and suppression lists,
        plus every special token after eos except eos itself (sot, language, task, notimestamps and
        timestamp tokens), as openai-whisper does when decoding without timestamps."""
        model = bundle.model
        vocab = model.config.vocab_size
        eos = int(bundle.eos_id)
        specials = range(eos + 1, vocab)
        suppress = sorted(set(int(t) for t in bundle.suppress_tokens if 0 <= int(t) < vocab)
                          | set(specials))
        return cls(prompt_ids=tuple(int(t) for t in bundle.prompt_ids), eos_id=eos,
                   suppress_tokens=tuple(suppress),
                   begin_suppress_tokens=tuple(int(t) for t in bundle.begin_suppress_tokens),
                   beam_size=beam_size,
                   max_target_positions=int(model.config.max_target_positions))


@dataclass
class _State:
    """Per-layer self-attention K/V caches [B, H, S, hd] and cross-attention K/V [B, H, T, hd]."""

    self_k: list[Tensor]
    self_v: list[Tensor]
    cross_k: list[Tensor]
    cross_v: list[Tensor]
    cross_mask: Tensor | None  # [B, 1, 1, T] bool (True = attend) or None
    length: int = 0

    def select(self, idx: Tensor) -> None:
        for lst in (self.self_k, self.self_v, self.cross_k, self.cross_v):
            for i, t in enumerate(lst):
                lst[i] = t.index_select(0, idx)
        if self.cross_mask is not None:
            self.cross_mask = self.cross_mask.index_select(0, idx)


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


class WhisperDecoderRunner:
    """Greedy/beam decoding with the weights of a HF `WhisperForConditionalGeneration`."""

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

    def _step(self, tokens: Tensor, st: _State) -> Tensor:
        """Run tokens [B, S] at positions st.length.. through the decoder; logits of the last one."""
        S = tokens.shape[1]
        pos = st.length
        x = self.decoder.embed_tokens(tokens) + self.decoder.embed_positions.weight[pos:pos + S]
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
            a = _attend(q, k, v, causal=S > 1 and pos == 0)
            x = x + sa.out_proj(self._merge(a))
            ca = layer.encoder_attn
            h = layer.encoder_attn_layer_norm(x)
            q = self._heads(ca.q_proj(h) * ca.scaling)
            a = _attend(q, st.cross_k[i], st.cross_v[i], mask=st.cross_mask)
            x = x + ca.out_proj(self._merge(a))
            h = layer.final_layer_norm(x)
            x = x + layer.fc2(self.act(layer.fc1(h)))
        st.length = pos + S
        x = self.decoder.layer_norm(x[:, -1])
        return self.proj_out(x).float()

    def _max_new(self, max_new_tokens: int | Sequence[int], B: int) -> list[int]:
        cap = self.opt.max_target_positions - len(self.opt.prompt_ids)
        if isinstance(max_new_tokens, int):
            max_new_tokens = [max_new_tokens] * B
        if len(max_new_tokens) != B:
            raise ValueError(f"max_new_tokens: {len(max_new_tokens)} values for {B} rows")
        return [max(1, min(int(m), cap)) for m in max_new_tokens]

    # ---- greedy -----------------------------------------------------------------------------
    @torch.inference_mode()
    def greedy(self, enc: Tensor, enc_lengths: Sequence[int] | None = None,
               max_new_tokens: int | Sequence[int] = 224) -> DecodeResult:
        """Batched greedy decoding of encoder states [B, T, d] (rows padded to T, true lengths in
        `enc_lengths`). Finished rows leave the batch."""
        B = enc.shape[0]
        limits = self._max_new(max_new_tokens, B)
        P = len(self.opt.prompt_ids)
        st = self._start(enc, enc_lengths, P + max(limits))
        out: list[list[int]] = [[] for _ in range(B)]
        by_limit, by_loop, generated = [False] * B, [False] * B, [0] * B
        rows = list(range(B))  # original row of each batch entry (-1: finished, still computed)
        live = B
        prompt = torch.tensor([self.opt.prompt_ids], device=enc.device).expand(B, P)
        logits = self._step(prompt, st)
        step = 0
        while True:
            mask = self.begin_suppress if step == 0 else self.suppress
            logits.masked_fill_(mask, float("-inf"))
            nxt = logits.argmax(-1)
            for j, t in enumerate(nxt.tolist()):
                r = rows[j]
                if r < 0:
                    continue
                if t == self.opt.eos_id:
                    rows[j], live = -1, live - 1
                    continue
                out[r].append(t)
                cut = loop_cut(out[r])
                if cut is not None:
                    generated[r], by_loop[r] = len(out[r]), True
                    del out[r][cut:]
                    rows[j], live = -1, live - 1
                elif len(out[r]) >= limits[r]:
                    by_limit[r] = True
                    rows[j], live = -1, live - 1
            if live == 0:
                break
            # finished rows leave the batch once they are a quarter of it (copying the caches
            # for every single finished row costs more than computing a few dead rows)
            if live <= 0.75 * len(rows):
                keep = [j for j, r in enumerate(rows) if r >= 0]
                idx = torch.tensor(keep, device=enc.device)
                st.select(idx)
                rows, nxt = [rows[j] for j in keep], nxt[idx]
            logits = self._step(nxt[:, None], st)
            step += 1
        generated = [g or len(o) for g, o in zip(generated, out)]
        return DecodeResult(out, by_limit, by_loop, generated)

    # ---- beam search ------------------------------------------------------------------------
    @torch.inference_mode()
    def beam(self, enc: Tensor, enc_lengths: Sequence[int] | None = None,
             max_new_tokens: int | Sequence[int] = 224, beam_size: int | None = None) -> DecodeResult:
        """Beam search (as openai-whisper's BeamSearchDecoder with patience 1): each row keeps
        `beam_size` live hypotheses; a hypothesis ending in eos is finished; a row stops once it has
        `beam_size` finished ones or hits its token limit; the best by sum logprob / length
        (or the length penalty) wins."""
        K = beam_size or self.opt.beam_size
        B = enc.shape[0]
        limits = self._max_new(max_new_tokens, B)
        P = len(self.opt.prompt_ids)
        enc_k = enc.repeat_interleave(K, dim=0)
        lens_k = None if enc_lengths is None else [int(n) for n in enc_lengths for _ in range(K)]
        st = self._start(enc_k, lens_k, P + max(limits) + 1)
        prompt = torch.tensor([self.opt.prompt_ids], device=enc.device).expand(B * K, P)
        logits = self._step(prompt, st)
        # live hypotheses per row: (tokens, sum logprob); at start only beam 0 is real
        hyps: list[list[tuple[list[int], float]]] = [[([], 0.0)] + [([], float("-inf"))] * (K - 1)
                                                     for _ in range(B)]
        finished: list[list[tuple[list[int], float]]] = [[] for _ in range(B)]
        live_rows = list(range(B))  # rows still searching, in batch order (K entries each)
        by_limit = [False] * B
        step = 0
        while live_rows:
            mask = self.begin_suppress if step == 0 else self.suppress
            logp = torch.log_softmax(logits.masked_fill(mask, float("-inf")), dim=-1)
            V = logp.shape[-1]
            cum = torch.tensor([h[1] for r in live_rows for h in hyps[r]], device=logp.device)
            scores = (logp + cum[:, None]).view(len(live_rows), K * V)
            top_s, top_i = scores.topk(2 * K, dim=-1)
            top_s, top_i = top_s.tolist(), top_i.tolist()
            src_idx, next_tok, new_live = [], [], []
            for j, r in enumerate(live_rows):
                new_h: list[tuple[list[int], float]] = []
                for s, flat in zip(top_s[j], top_i[j]):
                    if s == float("-inf"):
                        break
                    b, t = divmod(flat, V)
                    seq = hyps[r][b][0]
                    if t == self.opt.eos_id:
                        if len(finished[r]) < K:
                            finished[r].append((seq, s))
                        continue
                    new_h.append((seq + [t], s))
                    src_idx.append(j * K + b)
                    next_tok.append(t)
                    if len(new_h) == K:
                        break
                while len(new_h) < K:  # fewer than K continuations: pad with dead beams
                    new_h.append(([], float("-inf")))
                    src_idx.append(j * K)
                    next_tok.append(self.opt.eos_id)
                hyps[r] = new_h
                at_limit = len(new_h[0][0]) >= limits[r]
                if len(finished[r]) >= K or at_limit:
                    if at_limit and len(finished[r]) < K:
                        by_limit[r] = not finished[r]
                        finished[r].extend(h for h in new_h if h[1] > float("-inf"))
                else:
                    new_live.append((j, r))
            if not new_live:
                break
            keep_entries = [j * K + b for j, _ in new_live for b in range(K)]
            src = torch.tensor(src_idx, device=enc.device)
            tok = torch.tensor(next_tok, device=enc.device)
            # src_idx/next_tok are laid out per (old row j, beam); keep only rows still live
            keep = torch.tensor(keep_entries, device=enc.device)
            st.select(src[keep])
            tok = tok[keep]
            live_rows = [r for _, r in new_live]
            logits = self._step(tok[:, None], st)
            step += 1
        out = []
        for r in range(B):
            cands = finished[r] or [h for h in hyps[r] if h[1] > float("-inf")] or [([], 0.0)]
            out.append(max(cands, key=lambda h: self._score(h[0], h[1]))[0])
        generated = [len(o) for o in out]
        cuts = [loop_cut(o) for o in out]
        out = [o if c is None else o[:c] for o, c in zip(out, cuts)]
        return DecodeResult(out, by_limit, [c is not None for c in cuts], generated)

    def _score(self, tokens: list[int], logprob: float) -> float:
        n = max(1, len(tokens))
        lp = self.opt.length_penalty
        return logprob / (n if lp is None else ((5 + n) / 6) ** lp)

    def decode(self, enc: Tensor, enc_lengths: Sequence[int] | None = None,
               max_new_tokens: int | Sequence[int] = 224) -> DecodeResult:
        if self.opt.beam_size > 1:
            return self.beam(enc, enc_lengths, max_new_tokens)
        return self.greedy(enc, enc_lengths, max_new_tokens)


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
