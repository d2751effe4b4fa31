"""ViT image classifier for ImageNet fine-tuning, partial fine-tuning and linear probing.

Parameter names stay those of the encoder (``cls_token``, ``pos_embed``, ``patch_embed.*``,
``blocks.N.*``, ``norm.*``) plus ``fc_norm.*`` and ``head.*``, so a pretraining checkpoint loads
with ``mae_bench.checkpoints.load_encoder_state`` and ``engine.optim.layer_id`` gives the layer
ids of docs/references.md (head and fc_norm are the last layer).
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn as nn
from timm.layers import trunc_normal_

from ..errors import ConfigError
from .vit import LayerNorm, VisionTransformer, init_linear_and_norm, vit_kwargs

HEAD_TYPES = ("linear", "bn_linear")


class ViTClassifier(VisionTransformer):
    """ViT encoder + pooling + head.

    ``global_pool``: mean of the patch tokens -> ``fc_norm`` -> head, the MAE fine-tuning default
    (the encoder's final ``norm`` is then unused and removed, as in the official code); otherwise
    the cls token after ``norm`` -> head. ``head_type`` ``linear`` or ``bn_linear``
    (BatchNorm1d(affine=False, eps 1e-6) + Linear: the linear probe head).
    ``tune_blocks``: None trains everything; k trains only the last k blocks, the final norms and
    the head (``train_norm=False`` freezes ``norm`` too: the linear probe). Frozen parts run in
    eval mode and without gradients.
    """

    def __init__(self, num_classes: int, global_pool: bool = True, head_type: str = "linear",
                 tune_blocks: int | None = None, train_norm: bool = True, **vit_kw):
        super().__init__(**vit_kw)
        if head_type not in HEAD_TYPES:
            raise ConfigError(f"unknown head_type {head_type!r}; known: {', '.join(HEAD_TYPES)}")
        if tune_blocks is not None and not 0 <= tune_blocks <= self.depth:
            raise ConfigError(f"--tune_blocks {tune_blocks} is outside 0..{self.depth} (the encoder's blocks)")
        self.global_pool = global_pool
        self.fc_norm = LayerNorm(self.embed_dim) if global_pool else nn.Identity()
        if global_pool:
            self.norm = nn.Identity()
        linear = nn.Linear(self.embed_dim, num_classes)
        self.head = linear if head_type == "linear" else nn.Sequential(
            nn.BatchNorm1d(self.embed_dim, affine=False, eps=1e-6), linear)
        self.tune_blocks = tune_blocks
        self.num_frozen_blocks = 0 if tune_blocks is None else self.depth - tune_blocks
        self.norm_frozen = tune_blocks is not None and not train_norm
        self.pos_embed.requires_grad_(True)  # learnable when fine-tuning, as in the official (timm) model
        for name, p in self.named_parameters():
            p.requires_grad_(not name.startswith(self.frozen_prefixes()))

    def frozen_prefixes(self) -> tuple[str, ...]:
        if self.tune_blocks is None:
            return ()
        out = ["cls_token", "pos_embed", "patch_embed."] + [f"blocks.{i}." for i in range(self.num_frozen_blocks)]
        return tuple(out + (["norm."] if self.norm_frozen else []))

    def init_head(self, std: float) -> None:
        """Head weight trunc_normal(std) (2e-5 fine-tuning, 0.01 linear probe), bias 0."""
        linear = self.head if isinstance(self.head, nn.Linear) else self.head[-1]
        trunc_normal_(linear.weight, std=std)
        nn.init.zeros_(linear.bias)

    def train(self, mode: bool = True) -> "ViTClassifier":
        super().train(mode)
        if mode and self.tune_blocks is not None:
            self.patch_embed.eval()
            for blk in self.blocks[:self.num_frozen_blocks]:
                blk.eval()
            if self.norm_frozen:
                self.norm.eval()
        return self

    def _frozen(self, frozen: bool):
        return torch.no_grad() if frozen else contextlib.nullcontext()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] -> tokens [N, 1 + L, D] after ``norm`` (identity with global pooling)."""
        with self._frozen(self.tune_blocks is not None):
            x = self.embed(x)
            for blk in self.blocks[:self.num_frozen_blocks]:
                x = blk(x)
        for blk in self.blocks[self.num_frozen_blocks:]:
            x = blk(x)
        with self._frozen(self.norm_frozen):
            return self.norm(x)

    def forward_head(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [N, 1 + L, D] -> logits [N, num_classes]."""
        feat = self.fc_norm(tokens[:, 1:].mean(dim=1)) if self.global_pool else tokens[:, 0]
        return self.head(feat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def create_classifier(variant: str, num_classes: int, head_init_std: float = 2e-5, **kw) -> ViTClassifier:
    """``variant`` tiny/small/base/large/huge; ``kw``: img_size, patch_size, drop_path_rate and the
    ``ViTClassifier`` options. Random init is the MAE one (xavier Linear, LN 1/0); head trunc_normal."""
    vit_keys = ("img_size", "patch_size", "drop_path_rate")
    model = ViTClassifier(num_classes, **{k: v for k, v in kw.items() if k not in vit_keys},
                          **vit_kwargs(variant, **{k: v for k, v in kw.items() if k in vit_keys}))
    model.apply(init_linear_and_norm)
    model.init_encoder_weights()
    model.init_head(head_init_std)
    return model
