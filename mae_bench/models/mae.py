"""Masked Autoencoder (He et al. 2021) on the ViT of ``vit.py``.

Shapes: imgs [N, 3, H, W]; L = (H/p)(W/p) patches; K = L(1 - mask_ratio) kept;
patches [N, L, p*p*3] in (p, q, c) order (official ``patchify``); mask [N, L], 1 = removed.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import ConfigError
from .pos_embed import sincos_pos_embed_2d
from .sizes import model_size
from .vit import Block, LayerNorm, VisionTransformer, init_linear_and_norm, vit_kwargs


def patchify(imgs: torch.Tensor, p: int) -> torch.Tensor:
    """[N, C, H, W] -> [N, L, p*p*C], each patch flattened as (row in patch, column, channel)."""
    n, c, h, w = imgs.shape
    gh, gw = h // p, w // p
    x = imgs.reshape(n, c, gh, p, gw, p).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(n, gh * gw, p * p * c)


def unpatchify(x: torch.Tensor, p: int, grid: tuple[int, int], c: int = 3) -> torch.Tensor:
    """Inverse of ``patchify``: [N, L, p*p*C] -> [N, C, gh*p, gw*p]."""
    n = x.shape[0]
    gh, gw = grid
    x = x.reshape(n, gh, gw, p, p, c).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(n, c, gh * p, gw * p)


def random_masking(n: int, length: int, mask_ratio: float, noise: torch.Tensor | None = None,
                   device: torch.device | None = None):
    """Per-sample uniform random masking by argsort of noise; the smallest noise is kept.

    Returns ids_keep [N, K], mask [N, L] (1 = removed, in the original order) and
    ids_restore [N, L] (argsort of the shuffle, to unshuffle decoder tokens).
    """
    len_keep = int(length * (1 - mask_ratio))
    if noise is None:
        noise = torch.rand(n, length, device=device)
    elif noise.shape != (n, length):
        raise ValueError(f"noise must have shape {(n, length)}, got {tuple(noise.shape)}")
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = torch.ones(n, length, device=noise.device)
    mask[:, :len_keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return ids_shuffle[:, :len_keep], mask, ids_restore


def gather_tokens(x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """x [N, L, D], ids [N, K] -> [N, K, D]."""
    return torch.gather(x, 1, ids.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class MaskedAutoencoderViT(VisionTransformer):
    """MAE: the ViT encoder sees the kept patches (+ cls); a light decoder reconstructs all pixels."""

    def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=768, depth=12, num_heads=12,
                 mlp_ratio=4.0, decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16,
                 norm_pix_loss=False, mask_ratio=0.75, drop_path_rate=0.0):
        super().__init__(img_size, patch_size, in_chans, embed_dim, depth, num_heads, mlp_ratio, drop_path_rate)
        self.in_chans, self.norm_pix_loss, self.mask_ratio = in_chans, norm_pix_loss, mask_ratio
        self.decoder_embed = nn.Linear(embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        pos = sincos_pos_embed_2d(decoder_embed_dim, self.patch_embed.grid_size, cls_token=True)
        self.decoder_pos_embed = nn.Parameter(pos, requires_grad=False)
        self.decoder_blocks = nn.ModuleList(
            Block(decoder_embed_dim, decoder_num_heads, mlp_ratio) for _ in range(decoder_depth))
        self.decoder_norm = LayerNorm(decoder_embed_dim)
        self.decoder_pred = nn.Linear(decoder_embed_dim, patch_size**2 * in_chans)
        self.apply(init_linear_and_norm)
        self.init_encoder_weights()
        nn.init.normal_(self.mask_token, std=0.02)

    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        return patchify(imgs, self.patch_size)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        return unpatchify(x, self.patch_size, self.patch_embed.grid_size, self.in_chans)

    def _embed_kept(self, patches: torch.Tensor, ids_keep: torch.Tensor) -> torch.Tensor:
        """Project only the kept patches: equal to the conv patch embed followed by the gather,
        at a quarter of its cost (the projection is linear and the patches do not overlap)."""
        kept = gather_tokens(patches, ids_keep)
        x = torch.nn.functional.linear(kept, self.patch_embed.linear_weight(), self.patch_embed.proj.bias)
        return x + gather_tokens(self.pos_embed[:, 1:].expand(x.shape[0], -1, -1), ids_keep)

    def _encode_patches(self, patches, mask_ratio, noise):
        n, length, _ = patches.shape
        ids_keep, mask, ids_restore = random_masking(n, length, mask_ratio, noise, patches.device)
        x = self.add_cls(self._embed_kept(patches, ids_keep), self.pos_embed)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x), mask, ids_restore

    def forward_encoder(self, imgs: torch.Tensor, mask_ratio: float, noise: torch.Tensor | None = None):
        """imgs [N, 3, H, W] -> latent [N, 1 + K, D] (cls first), mask [N, L], ids_restore [N, L]."""
        return self._encode_patches(self.patchify(imgs), mask_ratio, noise)

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """latent [N, 1 + K, D] -> pred [N, L, p*p*3]; removed positions get the shared mask token."""
        x = self.decoder_embed(latent)
        n, length = ids_restore.shape
        mask_tokens = self.mask_token.to(x.dtype).expand(n, length + 1 - x.shape[1], -1)
        tokens = gather_tokens(torch.cat([x[:, 1:], mask_tokens], dim=1), ids_restore)
        x = torch.cat([x[:, :1], tokens], dim=1) + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]

    def target(self, patches: torch.Tensor) -> torch.Tensor:
        """Per-patch pixel target; with norm_pix_loss each patch is normalised by its mean and variance."""
        if not self.norm_pix_loss:
            return patches
        mean = patches.mean(dim=-1, keepdim=True)
        var = patches.var(dim=-1, keepdim=True)
        return (patches - mean) / (var + 1.0e-6) ** 0.5

    def forward_loss(self, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error over the removed patches only."""
        return self._loss(self.patchify(imgs), pred, mask)

    def _loss(self, patches, pred, mask):
        loss = ((pred.float() - self.target(patches.float())) ** 2).mean(dim=-1)
        return (loss * mask).sum() / mask.sum()

    def forward(self, imgs: torch.Tensor, mask_ratio: float | None = None, noise: torch.Tensor | None = None):
        """-> (loss, pred [N, L, p*p*3], mask [N, L]). ``noise`` [N, L] fixes the masking."""
        mask_ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        patches = self.patchify(imgs)
        latent, mask, ids_restore = self._encode_patches(patches, mask_ratio, noise)
        pred = self.forward_decoder(latent, ids_restore)
        return self._loss(patches, pred, mask), pred, mask

    def decoder_state_dict(self) -> dict[str, torch.Tensor]:
        enc = self.encoder_state_dict()
        return {k: v for k, v in self.state_dict().items() if k not in enc}


DECODER_DEFAULTS = dict(decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16)


def _factory(variant: str):
    size = model_size(variant)

    def build(**overrides) -> MaskedAutoencoderViT:
        return create_mae(size.mae, **overrides)

    build.__name__ = size.mae
    build.__doc__ = (f"MAE with a ViT-{variant} encoder ({size.embed_dim}-d, {size.depth} blocks, "
                     f"{size.num_heads} heads).")
    return build


def create_mae(name: str, **overrides) -> MaskedAutoencoderViT:
    """Build an MAE by name: ``mae_vit_base_patch16`` (any name ``model_size`` knows), with keyword overrides
    (img_size, patch_size, norm_pix_loss, decoder_embed_dim, decoder_depth, decoder_num_heads, mask_ratio,
    drop_path_rate)."""
    kw = {**DECODER_DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}
    return MaskedAutoencoderViT(**vit_kwargs(name, **kw))


mae_vit_micro_patch8 = _factory("micro")
mae_vit_tiny_patch16 = _factory("tiny")
mae_vit_small_patch16 = _factory("small")
mae_vit_base_patch16 = _factory("base")
mae_vit_large_patch16 = _factory("large")
mae_vit_huge_patch14 = _factory("huge")
