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


def _square(n: int) -> tuple[int, int]:
    side = int(round(n**0.5))
    if side * side != n:
        raise ValueError(f"pos_embed with {n} patch tokens is not a square grid; pass its grid to resample it")
    return side, side


def resample_grid(tokens: torch.Tensor, new_grid: tuple[int, int], old_grid: tuple[int, int] | None = None
                  ) -> torch.Tensor:
    """Grid tokens [1, gh*gw, D] (row-major; square unless ``old_grid``) -> [1, h*w, D] for ``new_grid``.

    ``F.interpolate(mode="bicubic", align_corners=False)`` without antialias, in the tensor's dtype: the formula of
    detectron2 ``get_abs_pos`` (detectron2/modeling/backbone/utils.py @ 02b5c4e), mmseg ``MAE.resize_abs_pos_embed``
    (mmseg/models/backbones/mae.py @ 3f8d34e) and the official MAE ``interpolate_pos_embed`` (util/pos_embed.py
    @ efb2a80).
    """
    gh, gw = old_grid or _square(tokens.shape[1])
    maps = tokens.reshape(1, gh, gw, tokens.shape[2]).permute(0, 3, 1, 2)
    maps = F.interpolate(maps, size=tuple(new_grid), mode="bicubic", align_corners=False)
    return maps.permute(0, 2, 3, 1).reshape(1, new_grid[0] * new_grid[1], tokens.shape[2])


def resample_pos_embed(pos_embed: torch.Tensor, new_grid: tuple[int, int], num_prefix_tokens: int = 1,
                       old_grid: tuple[int, int] | None = None) -> torch.Tensor:
    """Resample a [1, prefix + gh*gw, D] position embedding to ``new_grid``; prefix rows (cls) are kept as they are.

    Plain bicubic without antialias (``resample_grid``), as all three references do; timm's
    ``resample_abs_pos_embed`` antialiases by default and differs by up to 0.05 on the MAE table 14 -> 64.
    The source grid is ``old_grid``, or square when None.
    """
    old_grid = tuple(old_grid or _square(pos_embed.shape[1] - num_prefix_tokens))
    if old_grid == tuple(new_grid):
        return pos_embed
    prefix, tokens = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    return torch.cat([prefix, resample_grid(tokens, tuple(new_grid), old_grid)], dim=1)
