"""Pretraining runs (``tools/pretrain.py``): any method of ``mae_bench.methods`` on the shared engine, with the
live k-NN / linear-grid monitors of ``monitor.py``."""
from ..methods import PretrainConfig
from .run import run_pretrain

__all__ = ["PretrainConfig", "run_pretrain"]
