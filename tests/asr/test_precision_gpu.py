"""fp16 precision: a clear error on the CPU; on a CUDA GPU (marked `cuda`, skipped without one)
every model path runs in fp16 and agrees with fp32."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from speechbudget.axes import PRECISIONS, Config
from speechbudget.tasks.asr.pipeline import AsrPipeline
from speechbudget.tasks.asr.precision import cast_for_precision

SR = 16000


def _audio(seconds: float, seed: int) -> np.ndarray:
    g = np.random.default_rng(seed)
    return (g.standard_normal(int(seconds * SR)) * 0.1).astype(np.float32)


def test_fp16_is_a_precision_and_cuda_only(fake_bundle):
    assert "fp16" in PRECISIONS
    assert Config(task="asr", model="tiny.en", precision="fp16").label
    with pytest.raises(ValueError, match="fp16.*CUDA GPU only.*device='cpu'"):
        cast_for_precision(fake_bundle.model, "fp16", "cpu")


@pytest.mark.cuda
def test_fp16_pipeline_on_cuda_matches_fp32(fake_bundle):
    model32 = fake_bundle.model.to("cuda")
    try:
        cfg = Config(task="asr", model="tiny.en", window=4.0)
        audios = [_audio(2.0, 0), _audio(3.0, 1)]
        ref = AsrPipeline(fake_bundle, cfg, "cuda", model=model32)
        rows32 = [r for i, a in enumerate(audios) for r in ref.rows_for(f"u{i}", a)]
        ref.run(rows32, 2)
        m16 = cast_for_precision(model32, "fp16", "cuda")
        assert next(m16.parameters()).dtype == torch.float16
        pipe = AsrPipeline(fake_bundle, Config(task="asr", model="tiny.en", window=4.0,
                                               precision="fp16"), "cuda", model=m16)
        rows16 = [r for i, a in enumerate(audios) for r in pipe.rows_for(f"u{i}", a)]
        pipe.run(rows16, 2)
        for a, b in zip(rows32, rows16):
            assert b.enc.dtype == torch.float16
            torch.testing.assert_close(b.enc.float(), a.enc, atol=5e-2, rtol=5e-2)
            assert len(b.tokens) >= 1
    finally:
        fake_bundle.model.to("cpu")


@pytest.mark.cuda
@pytest.mark.shared
def test_tiny_en_fp16_cuda_same_text_as_fp32_cpu(shared_librispeech):
    from speechbudget.models.loading import load_whisper
    from speechbudget.tasks.asr.data import load_dataset
    from speechbudget.tasks.asr.wer import normalize
    ds = load_dataset(shared_librispeech, limit=8)
    audios = [ds.load_audio(it) for it in ds.items]
    texts = {}
    for device, precision in (("cpu", "fp32"), ("cuda", "fp16")):
        bundle = load_whisper("tiny.en", device=device)
        model = cast_for_precision(bundle.model, precision, device)
        pipe = AsrPipeline(bundle, Config(task="asr", model="tiny.en", precision=precision),
                           device, model=model)
        rows = [r for it, a in zip(ds.items, audios) for r in pipe.rows_for(it.id, a)]
        pipe.run(rows, 8)
        texts[precision] = [normalize(pipe.text(r.tokens)) for r in rows]
    same = sum(a == b for a, b in zip(texts["fp32"], texts["fp16"]))
    assert same >= 6, (same, texts)
