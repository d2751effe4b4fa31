"""ViT encoder with timm / official-MAE parameter names.

The block layout (``blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``) is the one of
``timm.models.vision_transformer``, so an encoder state dict loads strictly into
``timm.create_model('vit_base_patch16_224', num_classes=0)``. Attention runs through
``F.scaled_dot_product_attention``; subclasses (ViTDet windows, BEiT relative bias) pass an
additive ``attn_bias``.
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import DropPath, Mlp

from .pos_embed import sincos_pos_embed_2d
from .sizes import model_size


LayerNorm = partial(nn.LayerNorm, eps=1e-6)


def to_2tuple(x: int | tuple[int, int]) -> tuple[int, int]:
    return (x, x) if isinstance(x, int) else tuple(x)


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection (timm names ``qkv`` and ``proj``)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def split_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B, N, C] -> q, k, v each [B, heads, N, C / heads]."""
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        return qkv.unbind(0)

    def forward(self, x: torch.Tensor, attn_bias: torch.Tensor | None = None) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.split_heads(x)
        if attn_bias is not None:
            attn_bias = attn_bias.to(q.dtype)
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 drop_path: float = 0.0, attn_class: type[nn.Module] = Attention, **attn_kwargs):
        super().__init__()
        self.norm1 = LayerNorm(dim)
        self.attn = attn_class(dim, num_heads, qkv_bias=qkv_bias, **attn_kwargs)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU)

    def forward(self, x: torch.Tensor, **attn_kwargs) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), **attn_kwargs))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    """Non-overlapping patch projection (``patch_embed.proj`` is a Conv2d with stride = kernel = p)."""

    def __init__(self, img_size: int | tuple[int, int], patch_size: int, in_chans: int, embed_dim: int):
        super().__init__()
        self.img_size = to_2tuple(img_size)
        self.patch_size = patch_size
        if self.img_size[0] % patch_size or self.img_size[1] % patch_size:
            raise ValueError(f"img_size {self.img_size} is not a multiple of patch_size {patch_size}")
        self.grid_size = (self.img_size[0] // patch_size, self.img_size[1] // patch_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] -> [N, L, D]."""
        return self.proj(x).flatten(2).transpose(1, 2)

    def linear_weight(self) -> torch.Tensor:
        """The projection as a [D, p*p*C] matrix acting on patches in (p, q, c) order (see ``patchify``)."""
        return self.proj.weight.permute(0, 2, 3, 1).flatten(1)


class VisionTransformer(nn.Module):
    """Plain ViT encoder: patch embed + fixed sin-cos pos embed + cls token + blocks + final norm."""

    def __init__(self, img_size: int | tuple[int, int] = 224, patch_size: int = 16, in_chans: int = 3,
                 embed_dim: int = 768, depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 drop_path_rate: float = 0.0):
        super().__init__()
        self.embed_dim, self.depth, self.num_heads = embed_dim, depth, num_heads
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        pos = sincos_pos_embed_2d(embed_dim, self.patch_embed.grid_size, cls_token=True)
        self.pos_embed = nn.Parameter(pos, requires_grad=False)  # fixed, but a state-dict key as in timm
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, drop_path=p) for p in drop_path_rates(drop_path_rate, depth))
        self.norm = LayerNorm(embed_dim)

    @property
    def patch_size(self) -> int:
        return self.patch_embed.patch_size

    def init_encoder_weights(self) -> None:
        """Official MAE init: xavier for the patch projection viewed as Linear, cls token N(0, 0.02)."""
        init_patch_proj(self.patch_embed.proj)
        nn.init.normal_(self.cls_token, std=0.02)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Unmasked forward: [N, 3, H, W] -> normed tokens [N, 1 + L, D] (cls first), like timm."""
        x = self.patch_embed(x) + self.pos_embed[:, 1:]
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)

    def encoder_state_dict(self) -> dict[str, torch.Tensor]:
        """Only the encoder keys of ARCHITECTURE.md (no decoder, no heads)."""
        keep = ("cls_token", "pos_embed", "patch_embed.", "blocks.", "norm.")
        return {k: v for k, v in self.state_dict().items() if k.startswith(keep)}


def drop_path_rates(rate: float, depth: int) -> list[float]:
    """Stochastic depth rising linearly from 0 at the first block to ``rate`` at the last."""
    return [rate * i / max(depth - 1, 1) for i in range(depth)]


def init_patch_proj(proj: nn.Conv2d) -> None:
    """Official MAE init of the patch projection: xavier-uniform on the kernel viewed as a Linear, zero bias."""
    nn.init.xavier_uniform_(proj.weight.data.view(proj.weight.shape[0], -1))
    nn.init.zeros_(proj.bias)


def init_linear_and_norm(m: nn.Module) -> None:
    """Official MAE ``_init_weights``: xavier-uniform Linear with zero bias; LayerNorm 1 / 0."""
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def vit_kwargs(name: str, **overrides) -> dict:
    """Encoder constructor kwargs for a size (any name ``model_size`` knows: ``base``, ``vit-b``, ...) plus
    overrides (None values ignored)."""
    s = model_size(name)
    kw = dict(embed_dim=s.embed_dim, depth=s.depth, num_heads=s.num_heads, patch_size=s.patch_size)
    kw.update({k: v for k, v in overrides.items() if v is not None})
    return kw


def create_vit(variant: str, **overrides) -> VisionTransformer:
    model = VisionTransformer(**vit_kwargs(variant, **overrides))
    model.apply(init_linear_and_norm)
    model.init_encoder_weights()
    return model
