"""Window (xT) and stride (xV) through the ASR pipeline on a tiny random Whisper."""
from __future__ import annotations

import pytest
import torch
from transformers import GenerationMixin

from speechbudget.axes import Config
from speechbudget.models.whisper_encoder import encoder_tokens
from speechbudget.tasks.asr.pipeline import AsrPipeline
from speechbudget.tasks.asr.precision import cast_for_precision
from speechbudget.tasks.asr.windows import chunk_audio

from .conftest import noisy_tone

SR = 16000




def _cfg(**kw) -> Config:
    return Config(task="asr", model="tiny.en", **kw)


def _run(bundle, cfg, audios, cache=None, batch_size=4):
    pipe = AsrPipeline(bundle, cfg)
    rows = [r for i, a in enumerate(audios) for r in pipe.rows_for(f"u{i}", a)]
    pipe.run(rows, batch_size, cache)
    return pipe, rows


@pytest.mark.parametrize("window,stride,stride_at", [
    (30, 1, "output"), (10, 1, "output"), (15, 2, 0), (20, 2, 1), (10, 3, 2), (15, 2, "output"),
    ("dynamic", 1, "output"), ("dynamic", 2, 1)])
def test_encoder_tokens_follow_window_and_stride(fake_bundle, window, stride, stride_at):
    cfg = _cfg(window=window, stride=stride, stride_at=stride_at, pool="mean")
    audios = [noisy_tone(3.0, 0), noisy_tone(4.3, 1)]
    _, rows = _run(fake_bundle, cfg, audios)
    for r, a in zip(rows, audios):
        frames = 3000 if window == 30 else (int(window * 100) if window != "dynamic"
                                            else int(round(cfg.window_s_for(len(a) / SR) * 100)))
        assert r.frames == frames
        assert r.mel.shape == (16, frames)
        assert r.enc.shape == (encoder_tokens(frames, stride), 32)


def test_30s_stride1_matches_hf_generate(fake_bundle):
    audios = [noisy_tone(2.0, s) for s in range(3)]
    _, rows = _run(fake_bundle, _cfg(), audios)
    model = fake_bundle.model
    mel = torch.stack([r.mel for r in rows])
    with torch.no_grad():
        hf_enc = model.model.encoder(mel).last_hidden_state  # HF forward, 3000 frames
    torch.testing.assert_close(torch.stack([r.enc for r in rows]), hf_enc, atol=1e-5, rtol=1e-5)
    for i, r in enumerate(rows):
        out = GenerationMixin.generate(
            model, input_features=mel[i:i + 1], decoder_input_ids=torch.tensor([[51, 52]]),
            max_new_tokens=len(r.tokens) + 1, do_sample=False, num_beams=1, eos_token_id=50,
            pad_token_id=50, suppress_tokens=list(range(51, 60)) + [5, 6],
            begin_suppress_tokens=[7, 50])
        hf = out[0, 2:].tolist()
        hf = hf[:hf.index(50)] if 50 in hf else hf
        # our stop rule (tokens per second of audio) may end a row first; HF has no such limit
        assert r.tokens == (hf[:len(r.tokens)] if r.by_limit else hf)
        assert r.by_limit or len(hf) <= len(r.tokens)


def test_cache_reuses_encoder_states_and_gives_the_same_output(fake_bundle):
    audios = [noisy_tone(3.0, 0), noisy_tone(5.5, 1)]
    cache: dict = {}
    configs = [_cfg(window=4, stride=2, stride_at=1), _cfg(window=4, stride=3, stride_at=1,
               pool="drop"), _cfg(window=4, stride=2, stride_at=2), _cfg(window=4),
               _cfg(window=4, stride=2, stride_at="output"), _cfg(window=4, beam_size=2)]
    stats = []
    for cfg in configs:
        pipe, rows = _run(fake_bundle, cfg, audios, cache)
        _, plain = _run(fake_bundle, cfg, audios, None)
        for a, b in zip(rows, plain):
            torch.testing.assert_close(a.enc, b.enc, atol=1e-5, rtol=1e-5)
            assert a.tokens == b.tokens
            assert a.t["encoder"] > 0
        stats.append(dict(pipe.stats))
    assert stats[0] == {"feature_hits": 0, "encoder_hits": 0, "partial_encoder_hits": 0}
    n = len(rows)  # 3 chunks: 3.0 s -> 1, 5.5 s -> 2
    assert n == 3
    assert stats[1]["encoder_hits"] == n and stats[1]["feature_hits"] == n   # same layer-1 state
    assert stats[2]["partial_encoder_hits"] == n                              # continues from 1
    assert stats[3]["partial_encoder_hits"] == n                              # from layer 2
    assert stats[4]["encoder_hits"] == n and stats[5]["encoder_hits"] == n    # share the output


def test_long_audio_is_cut_into_equal_chunks(fake_bundle):
    a = noisy_tone(23.0, 2)
    chunks = chunk_audio(a, 10.0)
    assert len(chunks) == 3 and sum(len(c) for c in chunks) == len(a)
    assert max(len(c) for c in chunks) - min(len(c) for c in chunks) <= 1
    assert len(chunk_audio(a[: 10 * SR], 10.0)) == 1
    _, rows = _run(fake_bundle, _cfg(window=10), [a])
    assert [r.key for r in rows] == ["u0#0/3", "u0#1/3", "u0#2/3"]
    assert all(r.mel.shape[-1] == 1000 for r in rows)


def test_precisions_run(fake_bundle):
    audios = [noisy_tone(2.0, 0)]
    _, ref = _run(fake_bundle, _cfg(window=4), audios)
    for precision in ("bf16", "int8-dynamic"):
        model = cast_for_precision(fake_bundle.model, precision, "cpu")
        pipe = AsrPipeline(fake_bundle, _cfg(window=4, precision=precision), model=model)
        rows = pipe.rows_for("u0", audios[0])
        pipe.run(rows, 2)
        assert rows[0].enc.shape == ref[0].enc.shape
        assert len(rows[0].tokens) >= 1
    assert next(fake_bundle.model.parameters()).dtype == torch.float32  # original untouched
    with pytest.raises(ValueError, match="CPU only"):
        cast_for_precision(fake_bundle.model, "int8-dynamic", "cuda")


def test_int8_dynamic_quantises_the_decoder_and_head_per_channel_not_the_encoder(fake_bundle):
    m = cast_for_precision(fake_bundle.model, "int8-dynamic", "cpu")
    kinds = {n: type(mod).__name__ for n, mod in m.named_modules()}
    enc = [n for n in kinds if n.startswith("model.encoder.") and n.endswith(("fc1", "q_proj"))]
    dec = [n for n in kinds if n.startswith("model.decoder.") and n.endswith(("fc1", "q_proj"))]
    assert enc and dec
    assert all(kinds[n] == "Linear" for n in enc)
    assert all(kinds[n] == "Linear" and type(m.get_submodule(n)).__module__.startswith(
        "torch.ao.nn.quantized") for n in dec + ["proj_out"])
    w = m.get_submodule("proj_out").weight()
    assert w.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric)  # per row
    assert w.q_per_channel_scales().numel() == w.shape[0]
