"""Equal-budget pretraining baselines on the shared engine: ``supervised`` (DeiT-style) and ``mocov3``.

Importing this package registers both in ``mae_bench.engine.pretrain.METHODS`` (``run_pretrain`` imports
it), so ``tools/pretrain.sh N --method supervised|mocov3|mae`` trains the same ViT on the same data with
the same loop, schedule and budget. Both models keep the encoder's timm key names at the top level of
their state dict and add their own head keys (``head.*``; ``projector.*``, ``predictor.*``,
``momentum_encoder.*``, ``momentum_projector.*``), which ``mae_bench.checkpoints.load_encoder_state``
ignores and reports.
"""
from ..engine.pretrain import METHODS
from .mocov3 import MoCoV3, build_mocov3
from .supervised import ViTClassifier, build_supervised

METHODS.setdefault("supervised", build_supervised)
METHODS.setdefault("mocov3", build_mocov3)

__all__ = ["MoCoV3", "ViTClassifier", "build_mocov3", "build_supervised"]
