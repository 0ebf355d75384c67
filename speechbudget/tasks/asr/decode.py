"""Whisper decoding from encoder states of any length: batched greedy, beam search and temperature
sampling (best_of, seeded per row), KV-cached, with or without timestamp tokens, each row with its
own previous-text prompt (<|startofprev|> + hotwords and previous tokens, up to 223 each) and its
own forced prefix (faster-whisper's `prefix`; rows left-padded and masked).

One decoding loop (`WhisperDecoderRunner.run`) for every strategy, as openai-whisper's decoding.py:
logits -> each `LogitFilter.apply` (logit_filters.py: `SuppressTokens`; `TimestampRules` with
timestamps) -> the strategy's `update` (token_decoders.py: `GreedyDecoder`: argmax;
`BeamSearchDecoder`: top-k over beams) -> finished rows leave the batch; the stop rules
(`stop_rule`: repetition-loop cut, token limit) are one function both strategies call. Without
timestamps greedy output is token-identical to the former loop (and to CTranslate2:
tests/models/test_real_weights.py). The no-speech probability is the softmax at the
<|startoftranscript|> position of the prompt pass; `avg_logprob` = sum of the chosen
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
padding is masked out of cross-attention. The stop rules against repetition loops are
`token_decoders.stop_rule` (a token limit per row and `loop_cut`).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from speechbudget.geometry import TIMESTAMP_RESOLUTION_S
from speechbudget.tasks.asr.decode_options import DecodeOptions
from speechbudget.tasks.asr.logit_filters import LogitFilter, SuppressTokens, TimestampRules
from speechbudget.tasks.asr.token_decoders import (BeamSearchDecoder, GreedyDecoder,
                                                   SamplingDecoder)


@dataclass
class DecodeResult:
    tokens: list[list[int]]  # per row: its forced prefix + the new tokens, no eos (loops cut)
    stopped_by_limit: list[bool] = field(default_factory=list)  # hit max_new_tokens (no eos)
    stopped_by_loop: list[bool] = field(default_factory=list)   # a repetition loop was cut
    generated: list[int] = field(default_factory=list)  # tokens computed per row, before any cut
    # sum logprob / (tokens + 1) over the tokens kept (a loop cut: its first copy, as if stopped there)
    avg_logprob: list[float] = field(default_factory=list)
    no_speech_prob: list[float] = field(default_factory=list)  # P(no-speech) at the sot position
    # prompt length of each row: <|startofprev|> part, the prompt and the forced prefix
    prompt_tokens: list[int] = field(default_factory=list)
    # per row, the tokens each hypothesis run in parallel fed through the decoder as the FLOPs
    # count them (end-of-text included): beam K: K equal counts; sampling best_of n: n counts
    hypothesis_tokens: list[list[int]] = field(default_factory=list)
    # per row: whether the prompt pass computed the LM head at the <|startoftranscript|> position
    # too (it is not the prompt's last position: FLOPs, `windows.window_gflops`)
    no_speech_head: list[bool] = field(default_factory=list)


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

    def _step(self, tokens: Tensor, st: _State, extra: int | Sequence[int] | None = None
              ) -> tuple[Tensor, Tensor | None]:
        """Run tokens [B, S] at positions st.length.. through the decoder: (logits of the last
        one, logits at position `extra` of this pass or None). `extra` per row (a sequence):
        the LM head runs at that position only for the rows where it is not the last one (the
        others get the last position's logits)."""
        S = tokens.shape[1]
        x = self._layers(tokens, st)
        if extra is None:
            return self.proj_out(self.decoder.layer_norm(x[:, -1])).float(), None
        if not isinstance(extra, int):
            last = self.proj_out(self.decoder.layer_norm(x[:, -1])).float()
            at = last.clone()
            need = [i for i, p in enumerate(extra) if p != S - 1]
            if need:
                rows = torch.tensor(need, device=x.device)
                cols = torch.tensor([extra[i] for i in need], device=x.device)
                at[rows] = self.proj_out(self.decoder.layer_norm(x[rows, cols])).float()
            return last, at
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

    @torch.inference_mode()
    def sot_logits(self, enc: Tensor, enc_lengths: Sequence[int] | None = None) -> Tensor:
        """The logits [B, vocab] (float32) after <|startoftranscript|> alone (the prompt's token
        at `sot_index`), over encoder states [B, T, d]: one decoder step, for language detection
        (`tasks.asr.language`)."""
        sot = int(self.opt.prompt_ids[self.opt.sot_index])
        tokens = torch.full((enc.shape[0], 1), sot, dtype=torch.long, device=enc.device)
        with self._attention_kernels(enc.device):
            st = self._start(enc, enc_lengths, 1)
            logits, _ = self._step(tokens, st)
        return logits

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
            best_of: int = 1, seeds: Sequence[int] | None = None,
            hotwords: Sequence[Sequence[int]] | None = None,
            prefix: Sequence[Sequence[int]] | None = None) -> DecodeResult:
        """See `_run`, under `_attention_kernels`."""
        with self._attention_kernels(enc.device):
            return self._run(enc, enc_lengths, max_new_tokens, beam_size, previous, temperature,
                             best_of, seeds, hotwords, prefix)

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
             best_of: int = 1, seeds: Sequence[int] | None = None,
             hotwords: Sequence[Sequence[int]] | None = None,
             prefix: Sequence[Sequence[int]] | None = None) -> DecodeResult:
        """Decode encoder states [B, T, d] (rows padded to T, true lengths in `enc_lengths`) with
        greedy (beam 1), beam search or, at `temperature` > 0, sampling (`best_of` samples per
        row, `seeds[row]` seeding its generators) over the same loop: logits -> filters ->
        decoder.update -> finished rows leave the batch. Each row's prompt is faster-whisper's
        `get_prompt` (`DecodeOptions.prompt_rows`): <|startofprev|> + `hotwords[row]` + `previous[row]` (the
        text tokens of the windows before: conditioning, or the initial prompt) before the
        prompt, and `prefix[row]` after it: tokens forced as the start of the output. The prefix
        runs in the prompt pass and is returned as the start of the row's tokens (as CTranslate2
        returns it), its tokens scoring 0 (CTranslate2's forced tokens); the filters see the
        tokens after it, and the first of those is decoded as CTranslate2 decodes after a
        prefix: blank and eos suppressed, no first-timestamp rule. Rows with prompts of
        different lengths are left-padded and the padding masked."""
        B = enc.shape[0]
        before, forced = self.opt.prompt_rows(B, previous, hotwords, prefix)
        base = list(self.opt.prompt_ids)
        Lp = max((len(p) for p in before), default=0)
        lengths = [len(b) + len(base) + len(f) for b, f in zip(before, forced)]
        P = max(lengths)
        limits = self._max_new(max_new_tokens, B, lengths)   # new tokens after the prompt
        ts = self.opt.timestamp_begin if self.opt.timestamps else None   # loop_cut's view
        if temperature > 0:
            decoder = SamplingDecoder(self.opt.eos_id, temperature, best_of,
                                      seeds if seeds is not None else [0] * B, self._score,
                                      enc.device, ts)
        else:
            K = beam_size or self.opt.beam_size
            decoder = BeamSearchDecoder(self.opt.eos_id, K, self._score, ts) if K > 1 \
                else GreedyDecoder(self.opt.eos_id, ts)
        G = decoder.group
        if G > 1:
            enc = enc.repeat_interleave(G, dim=0)
            enc_lengths = None if enc_lengths is None else [int(n) for n in enc_lengths
                                                            for _ in range(G)]
        st = self._start(enc, enc_lengths, P + max(limits) + 1)
        any_forced = any(forced)
        if Lp or any(n != P for n in lengths):
            pad = [P - n for n in lengths for _ in range(G)]
            rows = [[base[0]] * (P - n) + b + base + f
                    for b, f, n in zip(before, forced, lengths) for _ in range(G)]
            prompt = torch.tensor(rows, device=enc.device)
            st.offset = torch.tensor(pad, device=enc.device)
            slots = torch.arange(st.self_k[0].shape[2], device=enc.device)
            st.self_mask = (slots[None, :] >= st.offset[:, None])[:, None, None, :]
        else:
            prompt = torch.tensor([base + f for f in forced for _ in range(G)], device=enc.device)
        extra = self._sot_extra()
        heads = [extra is not None] * B
        if any_forced and self.opt.no_speech_id is not None:  # the sot is before the prefix
            at = [P - len(f) - len(base) + self.opt.sot_index for f in forced]
            heads = [a != P - 1 for a in at]
            logits, at_sot = self._step(prompt, st, extra=[a for a in at for _ in range(G)])
        else:
            logits, at_sot = self._step(prompt, st, extra=None if extra is None else Lp + extra)
        no_speech = self._no_speech(at_sot if at_sot is not None else logits, G)
        filters: list[LogitFilter] = [SuppressTokens(self.suppress, self.begin_suppress)]
        if self.ts_rules is not None:
            filters.append(self.ts_rules)
        hyps = decoder.start(range(B))
        for h in hyps:   # the forced prefix starts each hypothesis, scoring 0
            h.tokens, h.sums = list(forced[h.row]), [0.0] * len(forced[h.row])
        limits = [m + len(f) for m, f in zip(limits, forced)]   # the stop rules count it too
        done: dict[int, tuple] = {}
        n_batch = len(hyps)  # entries in the caches (finished ones linger until a shrink)
        pos = list(range(len(hyps)))  # cache entry of each live hypothesis
        step = 0
        while hyps:
            if len(pos) != logits.shape[0] or pos != list(range(len(pos))):
                logits = logits[torch.tensor(pos, device=logits.device)]
            seqs = [h.tokens[len(forced[h.row]):] for h in hyps]   # what was decoded
            rows_ = [h.row for h in hyps]
            for f in filters:
                if f is self.ts_rules and step == 0 and any_forced:
                    self._first_timestamp_rules(logits, seqs, rows_, forced)
                else:
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
        n_forced = [len(f) for f in forced]   # computed in the prompt pass, not decoded
        if isinstance(decoder, SamplingDecoder):
            hyp_tokens = [[max(0, n - n_forced[r]) for n in decoder.counts[r]]
                          for r in range(B)]
        else:
            hyp_tokens = [[max(0, o[4] - n_forced[r]) + (0 if o[2] or o[3] else 1)] * G
                          for r, o in enumerate(out)]
        return DecodeResult([o[0] for o in out], [o[2] for o in out], [o[3] for o in out],
                            [max(0, o[4] - n_forced[r]) for r, o in enumerate(out)],
                            [o[1] / (len(o[0]) + 1) for o in out], no_speech, lengths,
                            hyp_tokens, heads)

    def _first_timestamp_rules(self, logits: Tensor, seqs: Sequence[Sequence[int]],
                               rows: Sequence[int], forced: Sequence[Sequence[int]]) -> None:
        """The timestamp rules at the first decoded token when some rows have a forced prefix:
        those rows only lose <|notimestamps|> (CTranslate2 applies no first-timestamp rule after
        a prefix), the others get `TimestampRules` as usual."""
        plain = [j for j, r in enumerate(rows) if not forced[r]]
        if plain:
            idx = torch.tensor(plain, device=logits.device)
            sub = logits[idx]
            self.ts_rules.apply(sub, [seqs[j] for j in plain], [rows[j] for j in plain], 0)
            logits[idx] = sub
        kept = [j for j, r in enumerate(rows) if forced[r]]
        if kept and self.opt.no_timestamps_id is not None:
            logits[torch.tensor(kept, device=logits.device), self.opt.no_timestamps_id] = \
                float("-inf")

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
