"""Adaptation: DAMA's documented rank schedule on the PEFT model, trainable-parameter counts."""
from __future__ import annotations

import pytest
import torch
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from speechbudget.axes import Adaptation
from speechbudget.adaptation import dama_frozen_basis, dama_ranks
from speechbudget.tasks.ser.adapt import apply_adaptation, count_trainable

D, FFN, L = 32, 64, 6


def _encoder(layers: int = L) -> WhisperEncoder:
    torch.manual_seed(0)
    return WhisperEncoder(WhisperConfig(d_model=D, encoder_layers=layers, encoder_attention_heads=2,
                                        encoder_ffn_dim=FFN, num_mel_bins=80))


def test_dama_ranks_documented_values():
    # docs/ser.md: r_i = round(max_rank * |2 i / (L - 1) - 1| ** 2)
    assert dama_ranks(4, 16) == [16, 2, 2, 16]
    assert dama_ranks(12, 16) == [16, 11, 6, 3, 1, 0, 0, 1, 3, 6, 11, 16]
    assert dama_ranks(6, 8) == [8, 3, 0, 0, 3, 8]
    assert dama_ranks(5, 8, min_rank=2) == [8, 4, 2, 4, 8]
    assert dama_ranks(1, 4) == [4]
    assert dama_frozen_basis(12, 16) == [False] * 3 + [True, True, False, False, True, True] + \
        [False] * 3
    with pytest.raises(ValueError, match="max_rank"):
        dama_ranks(4, 0)


def _lora_ranks(enc) -> dict[tuple[int, str], int]:
    out = {}
    for n, p in enc.named_parameters():
        if "lora_A" in n:
            parts = n.split(".")
            out[(int(parts[1]), parts[3])] = p.shape[0]
    return out


def test_dama_assigns_documented_ranks_per_layer_on_the_peft_model():
    enc = apply_adaptation(_encoder(12), Adaptation(method="dama", rank=16))
    expected = dama_ranks(12, 16)
    got = _lora_ranks(enc)
    for i, r in enumerate(expected):
        for t in ("q_proj", "v_proj"):
            assert got.get((i, t), 0) == r, (i, t)
    frozen = dama_frozen_basis(12, 16)
    for n, p in enc.named_parameters():
        if "lora_A" in n:
            assert p.requires_grad == (not frozen[int(n.split(".")[1])]), n
        if "lora_B" in n:
            assert p.requires_grad
    # alpha / r constant: every adapted module has scaling alpha / max_rank = 2
    from peft.tuners.lora import LoraLayer
    scalings = {m.scaling["default"] for m in enc.modules() if isinstance(m, LoraLayer)}
    assert scalings == {2.0}


def test_pissa_initialisation_keeps_the_function():
    enc = _encoder()
    x = torch.randn(1, 80, 100)
    from speechbudget.models.whisper_encoder import encode
    with torch.no_grad():
        ref, _ = encode(enc, x)
        apply_adaptation(enc, Adaptation(method="dama", rank=8))
        out, _ = encode(enc, x)
    assert torch.allclose(ref, out, atol=1e-4)
    a = enc.layers[0].self_attn.q_proj.lora_A["default"].weight
    assert a.abs().sum() > 0  # SVD basis, not the zero/kaiming LoRA init of B


def _per_layer_params() -> int:
    attn = 4 * D * D + 3 * D            # q, k, v, o (k has no bias)
    ffn = 2 * D * FFN + FFN + D
    norms = 2 * 2 * D
    return attn + ffn + norms


@pytest.mark.parametrize("adaptation,expected", [
    (Adaptation(), 0),
    (Adaptation(unfreeze_top=2), 2 * _per_layer_params()),
    (Adaptation(method="lora", rank=4), L * 2 * (4 * D + D * 4)),
    (Adaptation(method="lora", rank=4, targets=("q_proj", "k_proj", "v_proj", "out_proj"),
                unfreeze_top=1), L * 4 * 8 * D + _per_layer_params()),
    # DAMA rank 8 over 6 layers: ranks 8,3,0,0,3,8; no layer is below the frozen-basis threshold
    (Adaptation(method="dama", rank=8), 2 * 2 * (8 + 3) * 2 * D),
])
def test_trainable_parameter_counts(adaptation, expected):
    enc = apply_adaptation(_encoder(), adaptation)
    assert count_trainable(enc) == expected
    if adaptation.unfreeze_top:
        assert all(p.requires_grad for p in enc.layers[-1].parameters())
        assert not any(p.requires_grad for n, p in enc.layers[0].named_parameters()
                       if "lora_" not in n)


def test_dama_frozen_basis_counts():
    # 12 layers, rank 16: layers 3,4,7,8 (ranks 3,1,1,3) train B only
    enc = apply_adaptation(_encoder(12), Adaptation(method="dama", rank=16))
    ranks = dama_ranks(12, 16)
    frozen = dama_frozen_basis(12, 16)
    per = sum((r * D if not f else 0) + D * r for r, f in zip(ranks, frozen))
    assert count_trainable(enc) == 2 * per


def test_unknown_target_module_is_a_clear_error():
    with pytest.raises(ValueError, match="adaptation.targets.*query"):
        apply_adaptation(_encoder(), Adaptation(method="lora", rank=2, targets=("query",)))


def test_lora_on_wavlm_attention_projections_is_refused():
    """WavLM's attention reads q/k/v/out weights directly: LoRA there would silently do nothing."""
    import pytest
    from transformers import WavLMConfig, WavLMModel

    from speechbudget.axes import Adaptation
    from speechbudget.tasks.ser.adapt import apply_adaptation, count_trainable

    cfg = WavLMConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                      conv_dim=(32, 32), conv_kernel=(10, 3), conv_stride=(5, 2),
                      num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    with pytest.raises(ValueError, match="WavLM"):
        apply_adaptation(WavLMModel(cfg), Adaptation(method="lora", rank=4,
                                                     targets=("q_proj", "v_proj")))
    # no targets named: WavLM's usual ones, its feed-forward layers, as Config chooses them
    usual = apply_adaptation(WavLMModel(cfg), Adaptation(method="lora", rank=4))
    assert count_trainable(usual) == 2 * 2 * (4 * 32 + 64 * 4)
    assert {n.split(".")[-4] for n, p in usual.named_parameters() if p.requires_grad} == {
        "intermediate_dense", "output_dense"}
    model = apply_adaptation(WavLMModel(cfg), Adaptation(method="lora", rank=4,
                                                         targets=("intermediate_dense",)))
    assert count_trainable(model) == 2 * (4 * 32 + 64 * 4)
