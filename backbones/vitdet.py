"""ViTDet backbone (plain ViT + window attention + decomposed relative positions) and the SimpleFPN neck for mmdet.

Li et al., "Exploring Plain Vision Transformer Backbones for Object Detection" (ViTDet), recipe in
docs/references.md "COCO". The trunk is a ``mae_bench.models.VisionTransformer`` (its embedding, blocks and
``forward_intermediates``) without cls token or final norm; each block (``MapBlock``) views the patch tokens as a
``[B, H, W, C]`` map, and its attention, a subclass of ``mae_bench.models.Attention``, partitions the map into
windows (padding to a multiple of the window), adds the decomposed relative position bias (zero-initialised,
so a fresh model equals the pretrained encoder) and runs ``F.scaled_dot_product_attention``.

Parameter names are the encoder keys of docs/architecture.md (``patch_embed.proj``, ``pos_embed``,
``blocks.N.*``), so any checkpoint ``mae_bench.checkpoints`` knows loads directly. ``pos_embed`` keeps
the pretraining grid shape ``[1, 1 + g*g, D]`` (its cls row unused) and is interpolated to the input
grid in ``forward``; the file's ``cls_token`` and final ``norm`` are not part of the trunk (dropped).
Registered in mmdet's MODELS: ``MAEViTDet``, ``SimpleFPN``; the norm ``LN2d`` in mmengine's root MODELS.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from mmengine.registry import MODELS as ROOT_MODELS
from timm.layers import resample_patch_embed

from backbones.checkpoint_init import CheckpointInit
from mae_bench.models.vit import Attention, Block, PatchEmbed, VisionTransformer, init_linear_and_norm

# Global-attention blocks of the ViTDet recipe (docs/references.md "COCO"), by depth.
GLOBAL_BLOCKS = {12: (2, 5, 8, 11), 24: (5, 11, 17, 23), 32: (7, 15, 23, 31)}


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a [N, C, H, W] map: detectron2's ``layers.LayerNorm`` (the "LN" of the ViTDet
    neck and heads, detectron2/layers/batch_norm.py @ 02b5c4e), eps 1e-6 as there (torch's default is 1e-5)."""

    def __init__(self, normalized_shape, eps: float = 1e-6, **kwargs):
        super().__init__(normalized_shape, eps=eps, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


# In mmengine's root registry, so mmcv's ``build_norm_layer`` finds it from the mmdet and mmseg scopes alike.
if "LN2d" not in ROOT_MODELS.module_dict:
    ROOT_MODELS.register_module("LN2d", module=LayerNorm2d)


def window_partition(x: torch.Tensor, window: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """[B, H, W, C] -> windows [B * nW, window, window, C] (zero-padded to multiples) and the padded (Hp, Wp)."""
    b, h, w, c = x.shape
    pad_h, pad_w = (window - h % window) % window, (window - w % window) % window
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // window, window, wp // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window, window, c), (hp, wp)


def window_unpartition(windows: torch.Tensor, window: int, pad_hw: tuple[int, int],
                       hw: tuple[int, int]) -> torch.Tensor:
    """Inverse of ``window_partition``: [B * nW, window, window, C] -> [B, H, W, C] (padding removed)."""
    (hp, wp), (h, w) = pad_hw, hw
    b = windows.shape[0] // (hp * wp // window // window)
    x = windows.view(b, hp // window, wp // window, window, window, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)
    return x[:, :h, :w].contiguous()


def get_rel_pos(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Relative position table [2 * size - 1, C] -> pair embeddings [q_size, k_size, C] (linear resize if needed)."""
    max_dist = 2 * max(q_size, k_size) - 1
    if rel_pos.shape[0] != max_dist:
        rel_pos = F.interpolate(rel_pos.t()[None], size=max_dist, mode="linear").reshape(-1, max_dist).t()
    q_coords = torch.arange(q_size, device=rel_pos.device)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size, device=rel_pos.device)[None, :] * max(q_size / k_size, 1.0)
    rel = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return rel_pos[rel.long()]


def decomposed_rel_pos_bias(q: torch.Tensor, rel_pos_h: torch.Tensor, rel_pos_w: torch.Tensor,
                            hw: tuple[int, int]) -> torch.Tensor:
    """MViTv2 / ViTDet decomposed relative positions as an additive attention bias.

    q [B, heads, h*w, C] (unscaled) -> bias [B, heads, h*w, h*w] = q . R_h[dy] + q . R_w[dx].
    """
    h, w = hw
    b, n_heads, _, c = q.shape
    r_h, r_w = get_rel_pos(h, h, rel_pos_h), get_rel_pos(w, w, rel_pos_w)  # [h, h, C], [w, w, C]
    r_q = q.reshape(b, n_heads, h, w, c)
    rel_h = torch.einsum("bnhwc,hkc->bnhwk", r_q, r_h.to(q.dtype))
    rel_w = torch.einsum("bnhwc,wkc->bnhwk", r_q, r_w.to(q.dtype))
    return (rel_h[..., :, None] + rel_w[..., None, :]).reshape(b, n_heads, h * w, h * w)


class WindowRelPosAttention(Attention):
    """``Attention`` on a [B, H, W, C] map: window partition (``window`` 0 = global) + decomposed rel pos."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, window: int = 0,
                 rel_pos_size: tuple[int, int] = (14, 14), use_rel_pos: bool = True):
        super().__init__(dim, num_heads, qkv_bias=qkv_bias)
        self.window, self.use_rel_pos = window, use_rel_pos
        if use_rel_pos:
            head_dim = dim // num_heads
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * rel_pos_size[0] - 1, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * rel_pos_size[1] - 1, head_dim))

    def forward(self, x: torch.Tensor, attn_bias: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, H, W, C] -> [B, H, W, C]."""
        hw = x.shape[1:3]
        if self.window:
            x, pad_hw = window_partition(x, self.window)
        b, h, w, c = x.shape
        q, k, v = self.split_heads(x.reshape(b, h * w, c))
        if self.use_rel_pos:
            rel = decomposed_rel_pos_bias(q, self.rel_pos_h, self.rel_pos_w, (h, w))
            attn_bias = rel if attn_bias is None else attn_bias + rel
        if attn_bias is not None:
            attn_bias = attn_bias.to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias)
        out = self.proj(out.transpose(1, 2).reshape(b, h * w, c)).view(b, h, w, c)
        return window_unpartition(out, self.window, pad_hw, hw) if self.window else out


class MapBlock(Block):
    """``Block`` on the patch tokens of a ``grid`` viewed as a [B, H, W, C] map (what its attention works on)."""

    def forward(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """x [B, H*W, C] -> [B, H*W, C]."""
        b, n, c = x.shape
        return super().forward(x.reshape(b, *grid, c)).reshape(b, n, c)


class KernelResampledPatchEmbed(PatchEmbed):
    """``PatchEmbed`` whose stored kernel (``kernel`` px, the checkpoint's) runs at stride ``patch_size``, resampled
    to ``patch_size`` when they differ (timm's ``resample_patch_embed``); ``grid_size`` stays the pretraining one."""

    def __init__(self, img_size: int, kernel: int, embed_dim: int, patch_size: int):
        super().__init__(img_size, kernel, 3, embed_dim)
        self.patch_size = patch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] -> [N, (H/p)(W/p), D]."""
        proj, p = self.proj, self.patch_size
        weight = proj.weight if proj.kernel_size[0] == p else resample_patch_embed(proj.weight, [p, p])
        return F.conv2d(x, weight, proj.bias, stride=p).flatten(2).transpose(1, 2)


def encoder_key_map(key: str) -> str | None:
    """mae-bench encoder key -> trunk key; the cls token and the final norm are not part of the trunk."""
    return None if key == "cls_token" or key.startswith("norm.") else key


@MODELS.register_module()
class MAEViTDet(CheckpointInit, VisionTransformer, BaseModule):
    """Plain ViT trunk for detection: ``[N, 3, H, W]`` -> ``([N, D, H/p, W/p],)`` (the last map only).

    ``global_blocks`` default to the recipe's for the depth; ``window`` 0 makes every block global.
    ``pretrain_patch_size`` (default ``patch_size``) is the kernel of the stored ``patch_embed.proj``; when it
    differs (ViT-H/14 run at patch 16, as in ViTDet) the kernel is resampled to ``patch_size`` in ``forward``
    (timm's ``resample_patch_embed``), so the checkpoint still loads as it is.
    ``checkpoint``: any file ``mae_bench.checkpoints`` reads, loaded in ``init_weights``; only the
    relative position tables may be missing from it. None: random initialisation.
    """

    def __init__(self, embed_dim: int = 768, depth: int = 12, num_heads: int = 12, patch_size: int = 16,
                 img_size: int = 1024, pretrain_img_size: int = 224, window: int = 14,
                 global_blocks: Sequence[int] | None = None, use_rel_pos: bool = True, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, drop_path_rate: float = 0.1, with_cp: bool = False,
                 pretrain_patch_size: int | None = None, checkpoint: str | None = None, init_cfg=None):
        patch_embed = KernelResampledPatchEmbed(pretrain_img_size, pretrain_patch_size or patch_size, embed_dim,
                                                patch_size)
        global_blocks = GLOBAL_BLOCKS.get(depth, ()) if global_blocks is None else tuple(global_blocks)
        full = (img_size // patch_size, img_size // patch_size)

        def make_block(i: int, drop_path: float) -> MapBlock:
            is_global = i in global_blocks or not window
            return MapBlock(embed_dim, num_heads, mlp_ratio, qkv_bias, drop_path=drop_path,
                         attn_class=WindowRelPosAttention, window=0 if i in global_blocks else window,
                         use_rel_pos=use_rel_pos, rel_pos_size=full if is_global else (window, window))

        super().__init__(pretrain_img_size, embed_dim=embed_dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio,
                         drop_path_rate=drop_path_rate, class_token=False, make_block=make_block,
                         patch_embed=patch_embed)
        self.init_cfg = copy.deepcopy(init_cfg)
        self.global_blocks, self.checkpoint, self.grad_checkpointing = global_blocks, checkpoint, with_cp
        self.pos_embed.requires_grad_(True)
        self.norm = nn.Identity()
        self.apply(init_linear_and_norm)
        self.init_encoder_weights()

    key_map = staticmethod(encoder_key_map)

    def allowed_missing(self, key: str) -> bool:
        return ".rel_pos_" in key  # relative position tables are new in the detector

    def init_weights(self) -> None:
        """Load ``checkpoint`` (encoder keys); random init (done in ``__init__``) when there is none."""
        self.load_checkpoint()

    def abs_pos(self, hw: tuple[int, int]) -> torch.Tensor:
        """Pretraining-grid pos embed resampled to the input grid: [1, h, w, D]."""
        return self.pos_embed_for(hw)[:, 1:].reshape(1, hw[0], hw[1], -1)

    def block_kwargs(self, grid: tuple[int, int]) -> dict:
        return dict(grid=grid)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        """[N, 3, H, W] (H, W multiples of the patch size) -> ([N, D, H/p, W/p],) (with ``with_cp``: the blocks
        recompute their activations in the backward pass)."""
        return tuple(self.forward_intermediates(x, 1, intermediates_only=True))


def _norm(norm_cfg: dict, channels: int) -> nn.Module:
    return build_norm_layer(norm_cfg, channels)[1]


@MODELS.register_module()
class SimpleFPN(BaseModule):
    """ViTDet simple feature pyramid from the last (stride-16) map: x4, x2, x1, x0.5, then p6 by max pooling.

    x4 = deconv, norm, GELU, deconv; x2 = deconv; x1 = identity; x0.5 = 2x2 max pool; each level then
    a 1x1 and a 3x3 conv to ``out_channels`` with ``norm_cfg`` (LN2d). Input: a tuple whose last entry
    is [N, C, H, W]; output: ``num_outs`` maps [N, out_channels, H * s, W * s] for s = 4, 2, 1, 1/2, 1/4.
    """

    def __init__(self, in_channels: int = 768, out_channels: int = 256, scales: Sequence[float] = (4, 2, 1, 0.5),
                 num_outs: int = 5, norm_cfg: dict | None = None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        norm_cfg = norm_cfg or dict(type="LN2d", requires_grad=True, eps=1e-6)
        self.num_outs = num_outs
        stages, widths = zip(*(self._rescale(in_channels, s, norm_cfg) for s in scales))
        self.stages = nn.ModuleList(stages)
        self.lateral_convs = nn.ModuleList(
            ConvModule(c, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None) for c in widths)
        self.fpn_convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=None) for _ in widths)

    @staticmethod
    def _rescale(c: int, scale: float, norm_cfg: dict) -> tuple[nn.Module, int]:
        """The resampling stage for ``scale`` and its output width."""
        if scale == 4:
            return nn.Sequential(nn.ConvTranspose2d(c, c // 2, 2, 2), _norm(norm_cfg, c // 2), nn.GELU(),
                                 nn.ConvTranspose2d(c // 2, c // 4, 2, 2)), c // 4
        if scale == 2:
            return nn.ConvTranspose2d(c, c // 2, 2, 2), c // 2
        if scale == 1:
            return nn.Identity(), c
        if scale == 0.5:
            return nn.MaxPool2d(2, 2), c
        raise ValueError(f"SimpleFPN scale {scale} not in (4, 2, 1, 0.5)")

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        x = inputs[-1]
        outs = [fpn(lat(stage(x))) for stage, lat, fpn in zip(self.stages, self.lateral_convs, self.fpn_convs)]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2))
        return tuple(outs)


__all__ = ["MAEViTDet", "SimpleFPN", "LayerNorm2d", "WindowRelPosAttention", "GLOBAL_BLOCKS", "encoder_key_map",
           "window_partition", "window_unpartition", "decomposed_rel_pos_bias"]
