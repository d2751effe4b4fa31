"""Pretraining methods on the shared engine: ``mae`` and the baselines ``supervised`` (the MAE paper's
from-scratch recipe) and ``mocov3`` (the official ViT recipe).

``METHODS`` maps ``--method`` to a builder ``PretrainConfig -> Method`` (model, step, hooks, transform); the
run in ``mae_bench.pretrain`` trains any of them on the same ViT, data, loop, schedule and budget. The
baselines keep the encoder's timm key names at the top level of their state dict and add their own head keys
(``head.*``; ``projector.*``, ``predictor.*``, ``momentum_encoder.*``, ``momentum_projector.*``), which
``mae_bench.checkpoints.load_encoder_state`` ignores and reports.
"""
from typing import Callable

from .base import Method, PretrainConfig, model_device
from .mae import build_mae
from .mocov3 import MoCoV3, build_mocov3
from .supervised import ViTClassifier, build_supervised

METHODS: dict[str, Callable[[PretrainConfig], Method]] = {
    "mae": build_mae, "supervised": build_supervised, "mocov3": build_mocov3}

__all__ = ["METHODS", "Method", "MoCoV3", "PretrainConfig", "ViTClassifier", "build_mae", "build_mocov3",
           "build_supervised", "model_device"]
