"""Our decoding rules against literal transcriptions of openai-whisper's decoding.py
(`ApplyTimestampRules`, `BeamSearchDecoder` + `MaximumLikelihoodRanker`): the same masks, the same
beams. The references below are written from openai-whisper's code (MIT), step for step, so that
a change of ours that departs from them fails here."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers.modeling_outputs import BaseModelOutput

from speechbudget.models.whisper_encoder import encode
from speechbudget.tasks.asr.decode import WhisperDecoderRunner
from speechbudget.tasks.asr.decode_options import DecodeOptions
from speechbudget.tasks.asr.logit_filters import TimestampRules

from .conftest import varied_mel

V, TB, EOT, NO_TS = 80, 60, 50, 59


def openai_timestamp_rules(logits, seqs, first_step, max_initial):
    """openai-whisper ApplyTimestampRules.apply; seqs: the tokens sampled so far per row."""
    logits[:, NO_TS] = -np.inf
    for k, seq in enumerate(seqs):
        last = len(seq) >= 1 and seq[-1] >= TB
        penultimate = len(seq) < 2 or seq[-2] >= TB
        if last:
            if penultimate:
                logits[k, TB:] = -np.inf
            else:
                logits[k, :EOT] = -np.inf
        stamps = [t for t in seq if t >= TB]
        if stamps:
            last_ts = stamps[-1] if last and not penultimate else stamps[-1] + 1
            logits[k, TB:last_ts] = -np.inf
    if first_step:
        logits[:, :TB] = -np.inf
        if max_initial is not None:
            logits[:, TB + max_initial + 1:] = -np.inf
    logprobs = F.log_softmax(logits.float(), dim=-1)
    for k in range(len(seqs)):
        if logprobs[k, TB:].logsumexp(-1) > logprobs[k, :TB].max():
            logits[k, :TB] = -np.inf


def test_timestamp_rules_mask_what_openai_whisper_masks():
    rng = random.Random(0)
    g = torch.Generator().manual_seed(0)
    checked = taken = 0
    for _ in range(600):
        step = rng.choice([0, 0, 1, 2, 3, 5, 8])
        seqs = [[rng.randrange(TB, V) if rng.random() < 0.4 else rng.randrange(0, EOT)
                 for _ in range(step)] for _ in range(4)]
        logits = torch.randn(4, V, generator=g) * 3
        max_initial = rng.choice([None, 0, 3, 50])
        ours, ref = logits.clone(), logits.clone()
        TimestampRules(TB, EOT, NO_TS, max_initial, V, "cpu").apply(ours, seqs, range(4), step)
        openai_timestamp_rules(ref, seqs, step == 0, max_initial)
        assert torch.equal(torch.isinf(ours), torch.isinf(ref)), (seqs, step, max_initial)
        checked += 1
        taken += int(torch.isinf(ref[:, :TB]).all(-1).sum())
    assert checked == 600 and taken > 100   # the probability-mass rule fired often


# ---- beam search ---------------------------------------------------------------------------------
OPT = DecodeOptions(prompt_ids=(51, 52), eos_id=50, suppress_tokens=(5, 6),
                    begin_suppress_tokens=(7, 50), max_target_positions=40)


def openai_beam(model, enc, K, sample_len, length_penalty=None):
    """openai-whisper: BeamSearchDecoder (patience 1) + MaximumLikelihoodRanker, one audio, the
    decoder run on the whole sequence every step (no cache), SuppressBlank + SuppressTokens."""
    eot, prompt = OPT.eos_id, list(OPT.prompt_ids)
    sample_begin = len(prompt)
    tokens = torch.tensor([prompt] * K)
    sum_logprobs = torch.zeros(K)
    done: dict[tuple, float] = {}
    for _ in range(sample_len):
        with torch.no_grad():
            out = model(encoder_outputs=BaseModelOutput(last_hidden_state=enc.expand(K, -1, -1)),
                        decoder_input_ids=tokens)
        logits = out.logits[:, -1].float().clone()
        if tokens.shape[1] == sample_begin:
            logits[:, list(OPT.begin_suppress_tokens)] = -np.inf
        logits[:, list(OPT.suppress_tokens)] = -np.inf
        logprobs = F.log_softmax(logits, dim=-1)
        scores, sources, finished = {}, {}, {}
        for j in range(K):
            prefix = tokens[j].tolist()
            for lp, tok in zip(*logprobs[j].topk(K + 1)):
                seq = tuple(prefix + [tok.item()])
                scores[seq], sources[seq] = (sum_logprobs[j] + lp).item(), j
        nxt, new_sum = [], torch.zeros(K)
        for seq in sorted(scores, key=scores.get, reverse=True):
            if seq[-1] == eot:
                finished[seq] = scores[seq]
            else:
                new_sum[len(nxt)] = scores[seq]
                nxt.append(seq)
                if len(nxt) == K:
                    break
        tokens, sum_logprobs = torch.tensor(nxt), new_sum
        for seq in sorted(finished, key=finished.get, reverse=True):
            if len(done) >= K:
                break
            done[seq] = finished[seq]
        if len(done) >= K:
            break
    if len(done) < K:   # finalize: the unfinished ones, best first
        for j in list(np.argsort(sum_logprobs.numpy()))[::-1]:
            done[tuple(tokens[j].tolist() + [eot])] = sum_logprobs[j].item()
            if len(done) >= K:
                break
    cands = [(list(s[sample_begin:s.index(eot, sample_begin)]), lp) for s, lp in done.items()]

    def score(toks, lp):
        n = len(toks)
        return lp / (n if length_penalty is None else ((5 + n) / 6) ** length_penalty)
    best = max(cands, key=lambda c: score(*c))
    return best[0], best[1] / (len(best[0]) + 1)


@pytest.mark.parametrize("K,length_penalty", [(2, None), (3, None), (4, 0.5), (3, 1.0)])
def test_beam_search_is_openai_whispers(tiny_whisper, K, length_penalty):
    with torch.no_grad():
        enc, _ = encode(tiny_whisper.model.encoder, varied_mel(8, frames=300, seed=11))
    runner = WhisperDecoderRunner(tiny_whisper, OPT.with_(length_penalty=length_penalty))
    res = runner.run(enc, max_new_tokens=16, beam_size=K)
    for i in range(enc.shape[0]):
        toks, avg = openai_beam(tiny_whisper, enc[i:i + 1], K, 16, length_penalty)
        assert res.tokens[i] == toks, i
        assert abs(res.avg_logprob[i] - avg) < 1e-4
