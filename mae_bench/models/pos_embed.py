"""Fixed 2D sine-cosine position embeddings (MAE, MoCo v3) and resampling to another grid."""
from __future__ import annotations

import torch
from timm.layers import resample_abs_pos_embed


def _sincos_1d(dim: int, pos: torch.Tensor) -> torch.Tensor:
    """pos [M] -> [M, dim]: first half sin, second half cos, frequencies 1 / 10000^(2i/dim)."""
    assert dim % 2 == 0, f"sin-cos embedding dim must be even, got {dim}"
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    out = pos.reshape(-1).to(torch.float64)[:, None] * omega[None, :]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)


def sincos_pos_embed_2d(dim: int, grid_size: tuple[int, int], cls_token: bool = True) -> torch.Tensor:
    """Return [1, (1 +) gh*gw, dim] float32; half the channels encode the row, half the column.

    Same layout as the official MAE (``get_2d_sincos_pos_embed``): the first dim/2 channels embed
    the column (w) coordinate, the last dim/2 the row (h) coordinate, tokens in row-major order.
    A zero row is prepended for the cls token when ``cls_token``.
    """
    assert dim % 4 == 0, f"2D sin-cos embedding dim must be a multiple of 4, got {dim}"
    gh, gw = grid_size
    rows, cols = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    emb = torch.cat([_sincos_1d(dim // 2, cols), _sincos_1d(dim // 2, rows)], dim=1)
    if cls_token:
        emb = torch.cat([torch.zeros(1, dim, dtype=emb.dtype), emb], dim=0)
    return emb.float().unsqueeze(0)


def resample_pos_embed(pos_embed: torch.Tensor, new_grid: tuple[int, int], num_prefix_tokens: int = 1) -> torch.Tensor:
    """Resample a [1, prefix + gh*gw, D] position embedding to ``new_grid`` (bicubic, timm's helper)."""
    n = pos_embed.shape[1] - num_prefix_tokens
    side = int(round(n**0.5))
    if side * side != n:
        raise ValueError(f"pos_embed with {n} patch tokens is not a square grid; cannot resample")
    if (side, side) == tuple(new_grid):
        return pos_embed
    return resample_abs_pos_embed(
        pos_embed, new_size=list(new_grid), old_size=[side, side], num_prefix_tokens=num_prefix_tokens
    )
