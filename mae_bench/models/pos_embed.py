"""Fixed 2D sine-cosine position embeddings (MAE, MoCo v3) and resampling to another grid."""
from __future__ import annotations

import torch
import torch.nn.functional as F


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


def resample_grid(grid: torch.Tensor, new_grid: tuple[int, int]) -> torch.Tensor:
    """Square grid tokens [1, g*g, D] (row-major) -> [1, h*w, D] for ``new_grid`` (h, w), plain bicubic.

    ``F.interpolate(mode="bicubic", align_corners=False)`` without antialias, in the tensor's dtype: the formula of
    detectron2 ``get_abs_pos`` (detectron2/modeling/backbone/utils.py @ 02b5c4e), mmseg ``MAE.resize_abs_pos_embed``
    (mmseg/models/backbones/mae.py @ 3f8d34e) and the official MAE ``interpolate_pos_embed`` (util/pos_embed.py).
    """
    n, dim = grid.shape[1], grid.shape[2]
    side = int(round(n**0.5))
    if side * side != n:
        raise ValueError(f"pos_embed with {n} patch tokens is not a square grid; cannot resample")
    maps = grid.reshape(1, side, side, dim).permute(0, 3, 1, 2)
    maps = F.interpolate(maps, size=tuple(new_grid), mode="bicubic", align_corners=False)
    return maps.permute(0, 2, 3, 1).reshape(1, new_grid[0] * new_grid[1], dim)


def resample_pos_embed(pos_embed: torch.Tensor, new_grid: tuple[int, int], num_prefix_tokens: int = 1) -> torch.Tensor:
    """Resample a [1, prefix + g*g, D] position embedding to ``new_grid``; prefix rows (cls) are kept as they are.

    Plain bicubic without antialias (``resample_grid``), as all three references do; timm's
    ``resample_abs_pos_embed`` antialiases by default and differs by up to 0.05 on the MAE table 14 -> 64.
    """
    n = pos_embed.shape[1] - num_prefix_tokens
    side = int(round(n**0.5))
    if side * side != n:
        raise ValueError(f"pos_embed with {n} patch tokens is not a square grid; cannot resample")
    if (side, side) == tuple(new_grid):
        return pos_embed
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    return torch.cat([prefix, resample_grid(grid, tuple(new_grid))], dim=1)
