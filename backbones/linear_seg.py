"""Frozen dense probe for mmseg (``--task ade20k_linear``): a frozen ViT returning its last block, and a linear head.

- ``FrozenMAEViTSeg``: ``MAEViTSeg`` without relative position bias or drop path, with the final norm kept
  (the encoder as pretrained, like dinov2's linear segmentation, which reads normed block outputs), every
  parameter frozen, always in eval mode, run without gradients; returns one map [N, D, H/p, W/p].
- ``LinearBNHead``: BatchNorm + 1x1 conv on that map (dinov2 ``BNHead`` with one input, dropout 0); mmseg's
  ``BaseDecodeHead`` upsamples the logits bilinearly to the label size for the loss and to the image for the test.
Loaded by ``configs/ade20k_linear/*.py`` through ``custom_imports``.
"""
from __future__ import annotations

import torch
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS

from backbones.vit_seg import MAEViTSeg
from mae_bench.models.vit import LayerNorm


@MODELS.register_module()
class FrozenMAEViTSeg(MAEViTSeg):
    """Frozen plain ViT (timm / MAE key names, final norm included) -> (last-block map [N, D, H/p, W/p],)."""

    def __init__(self, **kwargs):
        kwargs.update(use_rel_pos_bias=False, drop_path_rate=0.0)
        kwargs.setdefault("out_indices", (kwargs.get("depth", 12) - 1,))
        super().__init__(**kwargs)
        self.norm = LayerNorm(self.embed_dim)
        self.requires_grad_(False)

    key_map = None  # every encoder key including ``norm.*``

    def allowed_missing(self, key: str) -> bool:
        return False  # none may be missing

    def init_weights(self) -> None:
        """Every encoder key of ``checkpoint`` including ``norm.*`` (none may be missing)."""
        BaseModule.init_weights(self)
        self.load_checkpoint()
        self.requires_grad_(False)

    def train(self, mode: bool = True) -> "FrozenMAEViTSeg":
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return tuple(self.forward_intermediates(x, 1, norm=True, intermediates_only=True))


@MODELS.register_module()
class LinearBNHead(BaseDecodeHead):
    """BatchNorm (``norm_cfg``) then the 1x1 ``conv_seg``: a linear classifier of every patch feature."""

    def __init__(self, **kwargs):
        kwargs.setdefault("channels", kwargs["in_channels"])
        kwargs.setdefault("dropout_ratio", 0.0)
        super().__init__(**kwargs)
        if self.channels != self.in_channels:
            raise ValueError(f"LinearBNHead: channels {self.channels} must equal in_channels {self.in_channels}")
        self.bn = build_norm_layer(self.norm_cfg or dict(type="BN"), self.in_channels)[1]

    def forward(self, inputs) -> torch.Tensor:
        return self.cls_seg(self.bn(self._transform_inputs(inputs)))
