"""Precisions of the pipeline's model (`axes.PRECISIONS`): which runs on which device
(`check_precision`) and the model cast for one (`cast_for_precision`, `int8_decoder`)."""
from __future__ import annotations

import torch

from speechbudget.axes import PRECISIONS


def cast_for_precision(model: torch.nn.Module, precision: str, device: str) -> torch.nn.Module:
    """fp32 as is; bf16: weights in bfloat16; int8-dynamic: the decoder's nn.Linear layers and the
    LM head quantised to int8 (`int8_decoder`; CPU only); fp16: weights in float16 (CUDA only:
    CPU fp16 matmuls are emulated). Returns a model (a copy if changed)."""
    check_precision(precision, device)
    if precision == "fp32":
        return model
    if precision == "int8-dynamic":
        return int8_decoder(model)
    import copy
    return copy.deepcopy(model).to(torch.float16 if precision == "fp16" else torch.bfloat16)


def check_precision(precision: str, device: str) -> None:
    """ValueError unless `precision` runs on `device`: fp16 on a CUDA GPU only, int8-dynamic on
    the CPU only (callers check before loading any weights)."""
    kind = torch.device(device).type
    if precision == "fp16" and kind != "cuda":
        raise ValueError(f"precision='fp16' runs on a CUDA GPU only (device={device!r}); "
                         "on the CPU use fp32, bf16 or int8-dynamic")
    if precision == "int8-dynamic" and kind != "cpu":
        raise ValueError(f"precision='int8-dynamic' runs on the CPU only (device={device!r}); "
                         "use bf16 on a GPU")
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: expected one of {', '.join(PRECISIONS)}")


def int8_decoder(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of a Whisper whose decoder nn.Linear layers and LM head (`proj_out`) are int8:
    torch's dynamic quantisation (fbgemm) with per-output-channel weight scales; the activations
    are quantised at run time with one scale per matrix. The encoder stays fp32: its matrices hold
    batch x 1500 rows, and one scale for all of them costs the rows without outliers their
    precision (tiny.en, 220 shared utterances, WER vs fp32: every Linear per-tensor +0.56 points,
    per-channel +0.58, the encoder alone +0.35, the decoder + head -0.08, at 0.89 of fp32's time;
    benchmarks/int8_variants.py). A decoder step's matrices hold one row per hypothesis, where
    that one scale is nearly a per-row one, and its weights (the 51864-row LM head above all) are
    what a step reads."""
    import copy
    import warnings

    m = copy.deepcopy(model).float()
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
        spec = {name: per_channel_dynamic_qconfig for name, mod in m.named_modules()
                if type(mod) is torch.nn.Linear and not name.startswith("model.encoder.")}
        return quantize_dynamic(m, spec, dtype=torch.qint8)
