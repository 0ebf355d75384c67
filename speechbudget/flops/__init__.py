"""Exact FLOPs accounting: analytic (`estimate`, `training_flops`) and measured (`measure`).

Convention: 1 multiply-add = 2 FLOPs; matmuls, convolutions and attention counted; element-wise
ops, softmax and norms not. See docs/flops.md.
"""
from speechbudget.flops.estimate import TOKENS_PER_S, estimate
from speechbudget.flops.report import CONVENTION, FlopsReport

__all__ = ["estimate", "training_flops", "FlopsReport", "CONVENTION", "TOKENS_PER_S"]


def __getattr__(name: str):
    if name == "training_flops":
        from speechbudget.flops.training import training_flops
        return training_flops
    raise AttributeError(name)
