"""Decoding from encoder states: batched greedy == one-by-one greedy == HF generate; beam search."""
from __future__ import annotations

import torch
from transformers import GenerationMixin
from transformers.modeling_outputs import BaseModelOutput

from speechbudget.models.whisper_encoder import encode
from speechbudget.tasks.asr.decode import WhisperDecoderRunner
from speechbudget.tasks.asr.decode_options import DecodeOptions

from .conftest import varied_mel

OPT = DecodeOptions(prompt_ids=(51, 52), eos_id=50, suppress_tokens=(5, 6),
                    begin_suppress_tokens=(7, 50), max_target_positions=40)


def _hf_generate(model, enc, num_beams=1, max_new=20):
    out = GenerationMixin.generate(
        model, encoder_outputs=BaseModelOutput(last_hidden_state=enc),
        decoder_input_ids=torch.tensor([list(OPT.prompt_ids)]), max_new_tokens=max_new,
        do_sample=False, num_beams=num_beams, suppress_tokens=list(OPT.suppress_tokens),
        begin_suppress_tokens=list(OPT.begin_suppress_tokens), eos_token_id=OPT.eos_id,
        pad_token_id=OPT.eos_id, length_penalty=1.0, early_stopping=True)
    toks = out[0, len(OPT.prompt_ids):].tolist()
    return toks[: toks.index(OPT.eos_id)] if OPT.eos_id in toks else toks


def test_batched_greedy_equals_unbatched_and_hf_generate(tiny_whisper):
    mel = varied_mel(6, frames=400)
    with torch.no_grad():
        enc, _ = encode(tiny_whisper.model.encoder, mel)
    runner = WhisperDecoderRunner(tiny_whisper, OPT)
    batched = runner.greedy(enc, max_new_tokens=20).tokens
    lengths = {len(t) for t in batched}
    assert len(lengths) > 1, "rows should finish at different steps for this test to mean much"
    for i in range(len(batched)):
        single = runner.greedy(enc[i:i + 1], max_new_tokens=20).tokens[0]
        assert batched[i] == single
        assert batched[i] == _hf_generate(tiny_whisper, enc[i:i + 1])
    for toks in batched:
        assert not set(toks) & set(OPT.suppress_tokens)
        assert toks[0] not in OPT.begin_suppress_tokens if toks else True


def test_padded_rows_with_different_encoder_lengths(tiny_whisper):
    """Dynamic windows: rows of different lengths padded and masked == each row alone."""
    with torch.no_grad():
        encs = [encode(tiny_whisper.model.encoder, varied_mel(1, frames=f, seed=f))[0][0]
                for f in (300, 200, 120)]
    T = max(e.shape[0] for e in encs)
    padded = torch.stack([torch.nn.functional.pad(e, (0, 0, 0, T - e.shape[0]), value=7.0)
                          for e in encs])
    runner = WhisperDecoderRunner(tiny_whisper, OPT)
    together = runner.greedy(padded, enc_lengths=[e.shape[0] for e in encs], max_new_tokens=15)
    for i, e in enumerate(encs):
        assert together.tokens[i] == runner.greedy(e[None], max_new_tokens=15).tokens[0]


def test_token_limit_stops_rows(tiny_whisper):
    with torch.no_grad():
        enc, _ = encode(tiny_whisper.model.encoder, varied_mel(3, frames=200))
    res = WhisperDecoderRunner(tiny_whisper, OPT).greedy(enc, max_new_tokens=[1, 3, 500])
    assert len(res.tokens[0]) <= 1 and len(res.tokens[1]) <= 3
    # the cap is max_target_positions minus the prompt
    assert len(res.tokens[2]) <= OPT.max_target_positions - len(OPT.prompt_ids)


def test_beam_search_matches_hf_and_beam1_is_greedy(tiny_whisper):
    with torch.no_grad():
        enc, _ = encode(tiny_whisper.model.encoder, varied_mel(4, frames=300, seed=3))
    runner = WhisperDecoderRunner(tiny_whisper, OPT)
    greedy = runner.greedy(enc, max_new_tokens=12).tokens
    assert runner.beam(enc, max_new_tokens=12, beam_size=1).tokens == greedy
    beam = runner.beam(enc, max_new_tokens=12, beam_size=3).tokens
    assert beam != greedy
    for i in range(4):
        assert beam[i] == runner.beam(enc[i:i + 1], max_new_tokens=12, beam_size=3).tokens[0]
    for i in (0, 3):
        assert beam[i] == _hf_generate(tiny_whisper, enc[i:i + 1], num_beams=3, max_new=12)


def test_loop_cut_keeps_the_first_copy_of_a_repetition_loop():
    from speechbudget.tasks.asr.token_decoders import loop_cut

    run = [11, 12, 13, 14, 15]
    assert loop_cut([1, 2] + run * 3) == 2 + len(run)
    assert loop_cut([1, 2] + run * 2) is None            # twice is not yet a loop
    assert loop_cut([7, 8, 9, 8, 9, 8, 9]) is None       # "no, no, no": short runs are speech
    assert loop_cut([5] * 11) is None and loop_cut([5] * 12) == 4
    assert loop_cut([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) is None


# ---- conditioning on previous text; sampling ----------------------------------------------------
PREV = OPT.with_(sot_prev_id=49)


def test_previous_text_prefix_is_the_prompt_and_rows_of_different_lengths_batch(tiny_whisper):
    """A row's previous tokens become <|startofprev|> + the last max_target_positions // 2 - 1 of
    them + the prompt; rows with different prefixes (left-padded, masked) == each row alone ==
    a runner whose prompt is that whole prefix."""
    with torch.no_grad():
        enc, _ = encode(tiny_whisper.model.encoder, varied_mel(4, frames=300, seed=5))
    runner = WhisperDecoderRunner(tiny_whisper, PREV)
    previous = [[], [10, 11, 12], [13], list(range(8, 8 + 25))]   # the last: cut to 19 tokens
    together = runner.run(enc, max_new_tokens=12, previous=previous)
    keep = PREV.max_target_positions // 2 - 1
    assert together.prompt_tokens == [2 + len(p[-keep:]) + (1 if p else 0) for p in previous]
    plain = runner.run(enc, max_new_tokens=12)
    assert together.tokens != plain.tokens and together.tokens[0] == plain.tokens[0]
    for i, p in enumerate(previous):
        alone = runner.run(enc[i:i + 1], max_new_tokens=12, previous=[p])
        assert alone.tokens[0] == together.tokens[i]
        assert abs(alone.avg_logprob[0] - together.avg_logprob[i]) < 1e-4
        assert abs(alone.no_speech_prob[0] - together.no_speech_prob[i]) < 1e-5
        full = WhisperDecoderRunner(tiny_whisper, PREV.with_(
            prompt_ids=tuple(([49] + p[-keep:] if p else []) + list(OPT.prompt_ids)),
            sot_index=len(p[-keep:]) + 1 if p else 0))
        ref = full.run(enc[i:i + 1], max_new_tokens=12)
        assert ref.tokens[0] == together.tokens[i]
        assert abs(ref.no_speech_prob[0] - together.no_speech_prob[i]) < 1e-5
    with torch.no_grad():  # beam search with prefixes: each row alone again
        beam = runner.run(enc, max_new_tokens=8, beam_size=2, previous=previous)
        for i, p in enumerate(previous):
            assert beam.tokens[i] == runner.run(enc[i:i + 1], max_new_tokens=8, beam_size=2,
                                                previous=[p]).tokens[0]


def test_sampling_is_seeded_per_row_and_tends_to_greedy_at_low_temperature(tiny_whisper):
    with torch.no_grad():
        enc, _ = encode(tiny_whisper.model.encoder, varied_mel(4, frames=300, seed=6))
    runner = WhisperDecoderRunner(tiny_whisper, OPT)
    greedy = runner.run(enc, max_new_tokens=15)
    cold = runner.run(enc, max_new_tokens=15, temperature=1e-4, seeds=[1, 2, 3, 4])
    assert cold.tokens == greedy.tokens
    for a, b in zip(cold.avg_logprob, greedy.avg_logprob):   # log-probs of untempered logits
        assert abs(a - b) < 1e-4
    hot = runner.run(enc, max_new_tokens=15, temperature=1.0, best_of=3, seeds=[1, 2, 3, 4])
    assert hot.tokens != greedy.tokens
    assert hot.tokens == runner.run(enc, max_new_tokens=15, temperature=1.0, best_of=3,
                                    seeds=[1, 2, 3, 4]).tokens                 # reproducible
    assert [len(h) for h in hot.hypothesis_tokens] == [3] * 4
    assert all(1 <= n <= 16 for h in hot.hypothesis_tokens for n in h)
    for i, seed in enumerate([1, 2, 3, 4]):                                   # batch-independent
        assert runner.run(enc[i:i + 1], max_new_tokens=15, temperature=1.0, best_of=3,
                          seeds=[seed]).tokens[0] == hot.tokens[i]
    other = runner.run(enc, max_new_tokens=15, temperature=1.0, best_of=3, seeds=[5, 6, 7, 8])
    assert other.tokens != hot.tokens
    # best_of keeps the likeliest sample (sum log-prob / length): never below a single sample's
    one = runner.run(enc, max_new_tokens=15, temperature=1.0, best_of=1, seeds=[1, 2, 3, 4])
    for r in range(4):
        def score(res):   # sum log-prob / length, from avg = sum / (length + 1)
            n = len(res.tokens[r])
            return res.avg_logprob[r] * (n + 1) / max(1, n)
        assert score(hot) >= score(one) - 1e-6 or one.stopped_by_loop[r] or hot.stopped_by_loop[r]



def test_avg_logprob_of_a_loop_cut_row_averages_the_tokens_it_keeps(tiny_whisper):
    """avg_logprob = sum of the tokens' log-probabilities / (their number + 1), as openai-whisper,
    over the tokens returned. A row whose repetition loop is cut divided the sum over every token
    it decoded by the kept ones + 1 (a mix of two averages: on seed 25, row 0 it said -1.15 where
    the decoded tokens average -0.90, across the -1.0 threshold of the no-speech and fallback
    rules). Greedy, beam search and sampling alike."""
    import torch.nn.functional as F

    with torch.no_grad():
        enc, _ = encode(tiny_whisper.model.encoder, varied_mel(6, frames=300, seed=32))
    runner = WhisperDecoderRunner(tiny_whisper, OPT)

    def reference(i, kept):   # teacher-forced log-probabilities of the kept tokens
        ids = torch.tensor([list(OPT.prompt_ids) + kept])
        with torch.no_grad():
            logits = tiny_whisper(encoder_outputs=(enc[i:i + 1],), decoder_input_ids=ids).logits
        logits = logits[0, len(OPT.prompt_ids) - 1:-1].float().clone()
        logits[0, list(OPT.begin_suppress_tokens)] = float("-inf")
        logits[:, list(OPT.suppress_tokens)] = float("-inf")
        lp = F.log_softmax(logits, -1).gather(1, torch.tensor(kept)[:, None]).sum().item()
        return lp / (len(kept) + 1)

    cut = 0
    for kw in ({}, {"beam_size": 2}, {"temperature": 0.3, "seeds": list(range(6))}):
        res = runner.run(enc, max_new_tokens=38, **kw)
        for i in range(6):
            if res.stopped_by_loop[i]:
                cut += 1
                assert res.generated[i] > len(res.tokens[i])
                assert abs(res.avg_logprob[i] - reference(i, res.tokens[i])) < 1e-4, (kw, i)
    assert cut >= 4, "the test needs rows that loop"


class Scripted:
    """A logit filter under which the model says `script`, token by token (every other token
    impossible: one live continuation per hypothesis)."""

    def __init__(self, script):
        self.script = script

    def apply(self, logits, seqs, rows, step):
        for j, seq in enumerate(seqs):
            t = self.script[len(seq)]
            keep = logits[j, t].clone()
            logits[j] = float("-inf")
            logits[j, t] = keep


def test_beam_search_ends_a_row_with_no_live_continuation(tiny_whisper, fake_bundle):
    """A row whose beams have no live continuation left (the one possible hypothesis ended;
    the others, padded in as impossible, -inf) is done. The loop fed the dead beams on until
    the decoder's positions ran out: IndexError in `_step` (a filter allowing one token per step
    showed it)."""
    opt = DecodeOptions.from_bundle(fake_bundle, timestamps=True)
    tb, eos = opt.timestamp_begin, opt.eos_id
    script = [tb, 10, 11, 12, 13, tb + 1, tb + 1, 14, 15, 16, 17, tb + 3, eos]
    runner = WhisperDecoderRunner(tiny_whisper, opt)
    runner.ts_rules = Scripted(script)
    with torch.no_grad():
        enc, _ = encode(tiny_whisper.model.encoder, varied_mel(2, frames=300, seed=5))
    for beam in (2, 3):
        res = runner.run(enc, max_new_tokens=30, beam_size=beam)
        assert res.tokens == [script[:-1]] * 2
        assert res.stopped_by_limit == [False, False] and res.stopped_by_loop == [False, False]


def test_a_loop_of_timestamped_segments_is_cut_after_its_first_copy(tiny_whisper, fake_bundle):
    """With timestamps, a repetition loop repeats its text in segments whose timestamps differ
    (`<|t0|> text <|t1|><|t1|> text <|t2|>...`): tiny.en at a 10 s window said "where people were
    making their gifts to God," six times over one second (speechbudget transcribe --window 10 on
    a long recording), uncut, since no run of tokens repeated. The cut compares the text tokens
    and keeps the first copy with its closing timestamps; greedy, beam search and sampling."""
    from speechbudget.tasks.asr.token_decoders import loop_cut

    opt = DecodeOptions.from_bundle(fake_bundle, timestamps=True)
    tb, eos = opt.timestamp_begin, opt.eos_id
    text = [10, 11, 12, 13]                      # 3 copies = LOOP_MIN_TOKENS text tokens
    script = [tb] + text + [tb + 1, tb + 1] + text + [tb + 2, tb + 2] + text + [tb + 3, eos]
    first = [tb] + text + [tb + 1, tb + 1]
    assert loop_cut(script[:-2]) is None         # the tokens themselves never repeat
    assert loop_cut(script[:-2], tb) == len(first)
    assert loop_cut(script[:-1], tb) == len(first)

    runner = WhisperDecoderRunner(tiny_whisper, opt)
    runner.ts_rules = Scripted(script)
    with torch.no_grad():
        enc, _ = encode(tiny_whisper.model.encoder, varied_mel(2, frames=300, seed=5))
    for kw in ({}, {"beam_size": 2}, {"temperature": 0.5, "best_of": 2, "seeds": [1, 2]}):
        res = runner.run(enc, max_new_tokens=30, **kw)
        assert res.tokens == [first, first], kw
        assert res.stopped_by_loop == [True, True], kw
