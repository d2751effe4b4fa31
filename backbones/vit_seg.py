"""ViT backbone for UperNet semantic segmentation (mmseg), built from ``mae_bench.models`` blocks.

``MAEViTSeg`` returns the patch tokens of chosen blocks as maps ``[N, D, H/p, W/p]`` (ViT-B
``out_indices=(3, 5, 7, 11)``, ViT-L ``(7, 11, 15, 23)``); mmseg's ``Feature2Pyramid`` neck turns
them into strides 4, 8, 16, 32. It computes what mmseg's ``MAE`` backbone computes (mmseg/models/backbones/
mae.py and beit.py, open-mmlab/mmsegmentation @ 3f8d34e), with timm / MAE parameter names:

- every block gets a BEiT-style relative position bias, switched on only for transfer and
  zero-initialised, so at the start the backbone computes exactly the pretrained encoder. The
  table has ``(2Wh-1)(2Ww-1) + 3`` rows x heads: the cls token is kept (MAE pretrains with it),
  and its three extra rows are cls->patch, patch->cls and cls->cls;
- learnable layer scale ``blocks.N.ls1.gamma`` / ``ls2.gamma`` (mmseg ``gamma_1`` / ``gamma_2``), initialised
  to ``init_values`` (mmseg's MAE config: 1.0, so a fresh model still equals the pretrained encoder);
  ``init_values=None`` leaves it out;
- the absolute position embedding has the training crop's grid (32x32 at 512 px): a checkpoint's 14x14 table
  is resampled once at load (plain bicubic, as mmseg's ``resize_abs_pos_embed``) and the full-resolution
  table is learned. An input of another grid (mmseg would fail) gets the table resampled in ``forward``;
- no final norm: features are the raw block outputs (the checkpoint's ``norm.*`` is dropped);
- drop path rises linearly to ``drop_path_rate`` over the blocks.

Loaded by configs through ``custom_imports=dict(imports=['backbones.vit_seg'])``.
"""
from __future__ import annotations

import copy
from functools import lru_cache

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from timm.layers import LayerScale

from backbones.checkpoint_init import CheckpointInit, refuse_pretrained
from mae_bench.models.vit import Attention, Block, VisionTransformer, init_linear_and_norm, to_2tuple


def num_relative_distances(grid: tuple[int, int]) -> int:
    """Rows of a BEiT relative position table for a ``grid`` of patches: (2h-1)(2w-1) + 3 (cls entries)."""
    return (2 * grid[0] - 1) * (2 * grid[1] - 1) + 3


@lru_cache(maxsize=16)
def relative_position_index(grid: tuple[int, int]) -> torch.Tensor:
    """Long [1 + L, 1 + L] (L = h*w, token 0 = cls): the table row each (query, key) pair reads.

    Patch pairs read the row of their offset (dy, dx); the last three rows are
    cls->patch (query cls), patch->cls (key cls) and cls->cls.
    """
    h, w = grid
    coords = torch.stack(torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")).flatten(1)  # [2, L]
    rel = coords[:, :, None] - coords[:, None, :]  # [2, L, L]
    idx = (rel[0] + h - 1) * (2 * w - 1) + (rel[1] + w - 1)
    n = num_relative_distances(grid)
    out = torch.zeros(h * w + 1, h * w + 1, dtype=torch.long)
    out[1:, 1:] = idx
    out[0, :] = n - 3
    out[:, 0] = n - 2
    out[0, 0] = n - 1
    return out


def resize_relative_table(table: torch.Tensor, src: tuple[int, int], dst: tuple[int, int]) -> torch.Tensor:
    """[(2sh-1)(2sw-1)+3, heads] -> [(2dh-1)(2dw-1)+3, heads]: the offset part resampled bicubically."""
    if tuple(src) == tuple(dst):
        return table
    heads = table.shape[1]
    grid = table[:-3].T.reshape(1, heads, 2 * src[0] - 1, 2 * src[1] - 1)
    grid = F.interpolate(grid, size=(2 * dst[0] - 1, 2 * dst[1] - 1), mode="bicubic", align_corners=False)
    return torch.cat([grid.reshape(heads, -1).T, table[-3:]], dim=0)


class RelPosAttention(Attention):
    """``Attention`` plus a BEiT relative position bias, passed to it as the additive ``attn_bias``.

    ``window`` is the patch grid the table is sized for (the training crop); another input grid
    (e.g. a sliding-window crop cut short at an image border) resamples the table.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, window: tuple[int, int] = (14, 14)):
        super().__init__(dim, num_heads, qkv_bias=qkv_bias)
        self.window = tuple(window)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(num_relative_distances(self.window), num_heads))

    def relative_bias(self, grid: tuple[int, int]) -> torch.Tensor:
        """[1, heads, 1 + L, 1 + L] bias for a ``grid`` of patches plus the cls token."""
        table = resize_relative_table(self.relative_position_bias_table, self.window, grid)
        index = relative_position_index(tuple(grid)).to(table.device)
        return table[index].permute(2, 0, 1).unsqueeze(0)

    def forward(self, x: torch.Tensor, grid: tuple[int, int] | None = None) -> torch.Tensor:
        """x [B, 1 + L, C] with L = grid[0] * grid[1] -> [B, 1 + L, C]."""
        return super().forward(x, attn_bias=self.relative_bias(grid or self.window))


class LayerScaleBlock(Block):
    """``Block`` with learnable per-channel layer scale: x + gamma_1 * attn(norm1(x)), x + gamma_2 * mlp(norm2(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0,
                 init_values: float = 1.0, **attn):
        super().__init__(dim, num_heads, mlp_ratio, drop_path=drop_path, **attn)
        self.ls1, self.ls2 = LayerScale(dim, init_values), LayerScale(dim, init_values)

    def forward(self, x: torch.Tensor, **attn_kwargs) -> torch.Tensor:
        x = x + self.drop_path(self.ls1(self.attn(self.norm1(x), **attn_kwargs)))
        return x + self.drop_path(self.ls2(self.mlp(self.norm2(x))))


@MODELS.register_module()
class MAEViTSeg(CheckpointInit, VisionTransformer, BaseModule):
    """Plain ViT (timm / MAE key names) returning block outputs as feature maps for mmseg: the
    ``VisionTransformer``'s embedding and ``forward_intermediates`` with its blocks given relative position
    bias and layer scale, a learnable position table and no final norm.

    Args:
        img_size: training crop; sizes the position table and the relative position tables (``(H/p, W/p)``).
        pretrain_img_size: accepted for older configs and unused: a checkpoint's table of any square grid is
            resampled to the crop's grid at load.
        patch_size, embed_dim, depth, num_heads, mlp_ratio: encoder geometry (must match the checkpoint).
        out_indices: blocks whose outputs are returned, in order.
        drop_path_rate: stochastic depth of the last block (linear from 0).
        use_rel_pos_bias: add the zero-initialised relative position bias to every block.
        init_values: initial layer scale (mmseg's MAE config: 1.0); None: no layer scale.
        checkpoint: checkpoint of any format ``mae_bench.checkpoints`` knows; None = random init
            (``backbones.checkpoint_init``). ``pretrained``: refused, with the right name.
    """

    def __init__(self, img_size: int | tuple[int, int] = 512, pretrain_img_size: int = 224, patch_size: int = 16,
                 embed_dim: int = 768, depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 out_indices: tuple[int, ...] = (3, 5, 7, 11), drop_path_rate: float = 0.1,
                 use_rel_pos_bias: bool = True, init_values: float | None = None, checkpoint: str | None = None,
                 init_cfg: dict | None = None, pretrained: str | None = None):
        refuse_pretrained(type(self).__name__, pretrained)
        if any(not 0 <= i < depth for i in out_indices):
            raise ValueError(f"out_indices {tuple(out_indices)} must lie in 0..{depth - 1}")
        grid = tuple(s // patch_size for s in to_2tuple(img_size))
        attn = dict(attn_class=RelPosAttention, window=grid) if use_rel_pos_bias else {}
        block, scale = (Block, {}) if init_values is None else (LayerScaleBlock, dict(init_values=init_values))
        super().__init__(img_size, patch_size, 3, embed_dim, depth, num_heads, mlp_ratio, drop_path_rate,
                         make_block=lambda i, p: block(embed_dim, num_heads, mlp_ratio, drop_path=p, **scale, **attn))
        self.init_cfg = copy.deepcopy(init_cfg)
        self.out_indices, self.checkpoint, self.use_rel_pos_bias = tuple(out_indices), checkpoint, use_rel_pos_bias
        self.pos_embed.requires_grad_(True)  # learned at the crop's grid
        self.norm = nn.Identity()
        # The MAE encoder init (xavier linears, LayerNorm 1/0, cls N(0, .02)); relative tables stay zero.
        self.apply(init_linear_and_norm)
        self.init_encoder_weights()

    @staticmethod
    def key_map(key: str) -> str | None:
        return None if key.startswith("norm.") else key  # no final norm: the decode head normalises

    def allowed_missing(self, key: str) -> bool:
        return "relative_position" in key  # the relative position tables are new in the segmenter

    def init_weights(self) -> None:
        """Load the encoder from ``checkpoint`` (relative tables, layer scale may be missing; pos_embed resampled)."""
        super().init_weights()
        self.load_checkpoint()

    def block_kwargs(self, grid: tuple[int, int]) -> dict:
        return dict(grid=grid) if self.use_rel_pos_bias else {}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """[N, 3, H, W] (H, W multiples of the patch size) -> one [N, D, H/p, W/p] map per ``out_indices``."""
        return tuple(self.forward_intermediates(x, self.out_indices, intermediates_only=True))

