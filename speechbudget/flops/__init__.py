"""Exact FLOPs accounting: analytic (`estimate`, `training_flops`) and measured
(`speechbudget.flops.measure.measure`, FlopCounterMode on the meta device; imports torch).

Convention: 1 multiply-add = 2 FLOPs; matmuls, convolutions and attention counted; element-wise
ops, softmax and norms not. Formulas: whisper.py, wav2vec2.py, training.py; see docs/flops.md.
"""
from speechbudget.flops.estimate import TOKENS_PER_S, estimate
from speechbudget.flops.report import CONVENTION, FlopsReport
from speechbudget.flops.training import feature_flops, training_flops

__all__ = ["estimate", "training_flops", "feature_flops", "FlopsReport", "CONVENTION", "TOKENS_PER_S"]
