"""Features of a frozen ``VisionTransformer`` for the k-NN and the heads: the cls tokens of the last n blocks and
the mean patch token of the last, each after the final norm.
"""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from ..engine.amp import autocast
from ..models.vit import VisionTransformer


def last_blocks(vit: VisionTransformer, imgs: torch.Tensor, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(patch tokens [N, L, D], cls token [N, 1, D]) of the last ``n`` blocks, oldest first, each after the final
    norm (dinov2 ``get_intermediate_layers(x, n, norm=True)``; ``forward_intermediates``). Works on any mae-bench
    ``VisionTransformer`` (the MAE, MoCo v3 and supervised models are subclasses): no masking, the full image."""
    return vit.forward_intermediates(imgs, n, norm=True, output_fmt="NLC", intermediates_only=True,
                                     return_prefix_tokens=True, stop_early=True)


def summarize(blocks: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """-> ``cls`` [N, n, D] (cls token of each of the last n blocks) and ``avg`` [N, D] (mean patch token of
    the last block), float32: everything the k-NN and the linear grid read."""
    return dict(cls=torch.cat([cls for _, cls in blocks], dim=1).float(), avg=blocks[-1][0].mean(dim=1).float())


@torch.no_grad()
def extract(vit: VisionTransformer, data: DataLoader, n_last: int, device: torch.device, amp: str = "fp32") -> dict:
    """Features of every image of ``data`` in order -> ``cls`` [N, n, D], ``avg`` [N, D], ``labels`` [N] (CPU);
    the forward under ``engine.amp.autocast(amp)``."""
    parts: dict[str, list] = {"cls": [], "avg": [], "labels": []}
    ctx = autocast(amp, device)
    for imgs, labels in data:
        with ctx:
            feats = summarize(last_blocks(vit, imgs.to(device, non_blocking=True), n_last))
        parts["cls"].append(feats["cls"].cpu())
        parts["avg"].append(feats["avg"].cpu())
        parts["labels"].append(labels)
    return {k: torch.cat(v) for k, v in parts.items()}
