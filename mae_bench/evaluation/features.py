"""Features of a frozen ``VisionTransformer`` for the k-NN and the heads: the cls tokens of the last n blocks and
the mean patch token of the last, each after the final norm.
"""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from ..models.vit import VisionTransformer


def last_blocks(vit: VisionTransformer, imgs: torch.Tensor, n: int) -> list[torch.Tensor]:
    """Tokens [N, 1 + L, D] of the last ``n`` blocks, oldest first, each passed through the final norm
    (dinov2 ``get_intermediate_layers(x, n, norm=True)``). Works on any mae-bench ``VisionTransformer``
    (the MAE, MoCo v3 and supervised models are subclasses): no masking, the full image."""
    x = vit.patch_embed(imgs) + vit.pos_embed[:, 1:]
    cls = (vit.cls_token + vit.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
    x = torch.cat([cls, x], dim=1)
    out = []
    for i, blk in enumerate(vit.blocks):
        x = blk(x)
        if i >= len(vit.blocks) - n:
            out.append(vit.norm(x))
    return out



def summarize(blocks: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """-> ``cls`` [N, n, D] (cls token of each of the last n blocks) and ``avg`` [N, D] (mean patch token of
    the last block), float32: everything the k-NN and the linear grid read."""
    return dict(cls=torch.stack([b[:, 0] for b in blocks], dim=1).float(), avg=blocks[-1][:, 1:].mean(dim=1).float())



@torch.no_grad()
def extract(vit: VisionTransformer, data: DataLoader, n_last: int, device: torch.device, dtype=None) -> dict:
    """Features of every image of ``data`` in order -> ``cls`` [N, n, D], ``avg`` [N, D], ``labels`` [N] (CPU)."""
    parts: dict[str, list] = {"cls": [], "avg": [], "labels": []}
    ctx = torch.autocast(device.type, dtype=dtype) if dtype else torch.autocast(device.type, enabled=False)
    for imgs, labels in data:
        with ctx:
            feats = summarize(last_blocks(vit, imgs.to(device, non_blocking=True), n_last))
        parts["cls"].append(feats["cls"].cpu())
        parts["avg"].append(feats["avg"].cpu())
        parts["labels"].append(labels)
    return {k: torch.cat(v) for k, v in parts.items()}
