"""Decoding from encoder states: batched greedy == one-by-one greedy == HF generate; beam search."""
from __future__ import annotations

import torch
from transformers import GenerationMixin
from transformers.modeling_outputs import BaseModelOutput

from speechbudget.models.whisper_encoder import encode
from speechbudget.tasks.asr.decode import DecodeOptions, WhisperDecoderRunner

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
    from speechbudget.tasks.asr.decode import loop_cut

    run = [11, 12, 13, 14, 15]
    assert loop_cut([1, 2] + run * 3) == 2 + len(run)
    assert loop_cut([1, 2] + run * 2) is None            # twice is not yet a loop
    assert loop_cut([7, 8, 9, 8, 9, 8, 9]) is None       # "no, no, no": short runs are speech
    assert loop_cut([5] * 11) is None and loop_cut([5] * 12) == 4
    assert loop_cut([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) is None
