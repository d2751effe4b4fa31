"""ViT encoder with timm / official-MAE parameter names.

The block layout (``blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``) is the one of
``timm.models.vision_transformer``, so an encoder state dict loads strictly into
``timm.create_model('vit_base_patch16_224', num_classes=0)``. Attention runs through
``F.scaled_dot_product_attention``; subclasses (ViTDet windows, BEiT relative bias) pass an
additive ``attn_bias``.

The feature interface has timm's names and meaning: ``forward_features`` (all tokens after the final norm) and
``forward_intermediates`` (the outputs of chosen blocks, with or without the final norm, as token lists or
maps). The embedding (patch projection, position table resampled to the input's grid, cls token) is
``embed``, the one prologue every model of mae-bench runs (classifier, MAE encoder, dense backbones).
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from timm.layers import DropPath, Mlp

from .pos_embed import resample_pos_embed, sincos_pos_embed_2d
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
    """Plain ViT encoder: patch embed + fixed sin-cos pos embed + cls token + blocks + final norm.

    ``make_block(i, drop_path)`` builds block ``i`` (default: ``Block``; the dense backbones give their
    attention); ``class_token=False`` leaves the cls token out (the position table keeps its cls row, as the
    checkpoints have it). ``grad_checkpointing`` recomputes the blocks' activations in the backward pass.
    """

    def __init__(self, img_size: int | tuple[int, int] = 224, patch_size: int = 16, in_chans: int = 3,
                 embed_dim: int = 768, depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 drop_path_rate: float = 0.0, class_token: bool = True,
                 make_block: Callable[[int, float], nn.Module] | None = None, patch_embed: nn.Module | None = None):
        super().__init__()
        self.embed_dim, self.depth, self.num_heads = embed_dim, depth, num_heads
        self.patch_embed = patch_embed or PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if class_token else None
        pos = sincos_pos_embed_2d(embed_dim, self.patch_embed.grid_size, cls_token=True)
        self.pos_embed = nn.Parameter(pos, requires_grad=False)  # fixed, but a state-dict key as in timm
        make_block = make_block or (lambda i, p: Block(embed_dim, num_heads, mlp_ratio, drop_path=p))
        self.blocks = nn.ModuleList(make_block(i, p) for i, p in enumerate(drop_path_rates(drop_path_rate, depth)))
        self.norm = LayerNorm(embed_dim)
        self.grad_checkpointing = False

    @property
    def patch_size(self) -> int:
        return self.patch_embed.patch_size

    @property
    def num_prefix_tokens(self) -> int:
        return 0 if self.cls_token is None else 1

    def init_encoder_weights(self) -> None:
        """Official MAE init: xavier for the patch projection viewed as Linear (bias: the conv default), cls token
        N(0, 0.02)."""
        init_patch_proj(self.patch_embed.proj)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=0.02)

    def grid(self, x: torch.Tensor) -> tuple[int, int]:
        """The patch grid (H/p, W/p) of an image batch [N, C, H, W]."""
        return x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size

    def pos_embed_for(self, grid: tuple[int, int]) -> torch.Tensor:
        """The position table [1, 1 + h*w, D] for a patch ``grid``: as stored, or resampled (plain bicubic)."""
        return resample_pos_embed(self.pos_embed, grid, old_grid=self.patch_embed.grid_size)

    def add_cls(self, tokens: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Prepend the cls token plus its position row ``pos[:, :1]`` (nothing without a cls token)."""
        if self.cls_token is None:
            return tokens
        return torch.cat([(self.cls_token + pos[:, :1]).expand(tokens.shape[0], -1, -1), tokens], dim=1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] (H, W multiples of the patch size) -> tokens [N, prefix + L, D] before the first block."""
        pos = self.pos_embed_for(self.grid(x))
        return self.add_cls(self.patch_embed(x) + pos[:, 1:], pos)

    def block_kwargs(self, grid: tuple[int, int]) -> dict:
        """Extra keyword arguments of every block for an input of this patch grid (none for the plain ViT)."""
        return {}

    def run_block(self, blk: nn.Module, x: torch.Tensor, **kwargs) -> torch.Tensor:
        if self.grad_checkpointing and self.training:
            return cp.checkpoint(blk, x, use_reentrant=False, **kwargs)
        return blk(x, **kwargs)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Unmasked forward: [N, 3, H, W] -> normed tokens [N, 1 + L, D] (cls first), like timm."""
        kwargs = self.block_kwargs(self.grid(x))
        x = self.embed(x)
        for blk in self.blocks:
            x = self.run_block(blk, x, **kwargs)
        return self.norm(x)

    def forward_intermediates(self, x: torch.Tensor, indices: int | Sequence[int] | None = None, norm: bool = False,
                              output_fmt: str = "NCHW", intermediates_only: bool = False,
                              return_prefix_tokens: bool = False, stop_early: bool = False):
        """Outputs of chosen blocks, with timm's arguments and meaning.

        ``indices``: None = every block, an int n = the last n, a sequence = those blocks (negative from the end).
        ``norm``: pass each through the final norm. ``output_fmt``: ``NCHW`` maps [N, D, H/p, W/p] or ``NLC``
        tokens [N, L, D], the patch tokens only; ``return_prefix_tokens`` pairs each with its cls token [N, 1, D].
        ``stop_early``: skip the blocks after the last one taken. -> the list of intermediates when
        ``intermediates_only``, else (final normed tokens [N, 1 + L, D], list).
        """
        if output_fmt not in ("NCHW", "NLC"):
            raise ValueError(f"output_fmt {output_fmt!r} is not NCHW or NLC")
        take = take_indices(len(self.blocks), indices)
        grid, kwargs = self.grid(x), self.block_kwargs(self.grid(x))
        x = self.embed(x)
        outs = []
        for i, blk in enumerate(self.blocks[:max(take) + 1] if stop_early else self.blocks):
            x = self.run_block(blk, x, **kwargs)
            if i in take:  # shaped right away, so the backward pass sums a block's gradients in the order it always did
                outs.append(self.intermediate(self.norm(x) if norm else x, grid, output_fmt, return_prefix_tokens))
        return outs if intermediates_only else (self.norm(x), outs)

    def intermediate(self, x: torch.Tensor, grid: tuple[int, int], output_fmt: str, with_prefix: bool):
        """Block output [N, prefix + L, D] -> patch tokens [N, L, D] or map [N, D, h, w] (with the prefix tokens)."""
        y = x[:, self.num_prefix_tokens:]
        if output_fmt == "NCHW":
            y = y.transpose(1, 2).reshape(y.shape[0], -1, *grid).contiguous()
        return (y, x[:, :self.num_prefix_tokens]) if with_prefix else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)

    def encoder_state_dict(self) -> dict[str, torch.Tensor]:
        """Only the encoder keys of docs/architecture.md (no decoder, no heads)."""
        keep = ("cls_token", "pos_embed", "patch_embed.", "blocks.", "norm.")
        return {k: v for k, v in self.state_dict().items() if k.startswith(keep)}


def take_indices(depth: int, indices: int | Sequence[int] | None) -> list[int]:
    """Absolute block indices: None = all, an int n = the last n, a sequence as given (negative from the end)."""
    if indices is None:
        return list(range(depth))
    if isinstance(indices, int):
        if not 0 < indices <= depth:
            raise ValueError(f"last {indices} blocks: must lie in 1..{depth}")
        return list(range(depth - indices, depth))
    out = [i % depth if -depth <= i < depth else None for i in indices]
    if None in out:
        raise ValueError(f"block indices {list(indices)} must lie in -{depth}..{depth - 1}")
    return out


def drop_path_rates(rate: float, depth: int) -> list[float]:
    """Stochastic depth rising linearly from 0 at the first block to ``rate`` at the last."""
    return [rate * i / max(depth - 1, 1) for i in range(depth)]


def init_patch_proj(proj: nn.Conv2d) -> None:
    """Official MAE init of the patch projection (models_mae.py ``initialize_weights``, facebookresearch/mae @
    efb2a80): xavier-uniform on the kernel viewed as a [D, C*p*p] Linear; the bias keeps PyTorch's Conv2d
    default, uniform in +-1 / sqrt(C*p*p) (``_init_weights`` touches only Linear and LayerNorm)."""
    nn.init.xavier_uniform_(proj.weight.data.view(proj.weight.shape[0], -1))


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
