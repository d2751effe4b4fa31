"""Pictures people would rather see than read: MAE reconstructions and loss curves."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from torchvision.utils import save_image

from ..data.imagefolder import IMAGENET_MEAN, IMAGENET_STD

log = logging.getLogger("mae_bench.vis")


def _denorm(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x * std + mean).clamp(0, 1)


@torch.no_grad()
def reconstruction_grid(model, imgs: torch.Tensor, mask_ratio: float = 0.75, seed: int = 0) -> torch.Tensor:
    """Rows of (original, masked, reconstruction, reconstruction with visible patches pasted).

    With norm_pix_loss the prediction is in per-patch normalised units; it is mapped back with
    each patch's own mean and variance, as the official visualisation does.
    """
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    if hasattr(model, "mask_noise"):  # the model's own mask sampling (random: the same uniform draw)
        noise = model.mask_noise(imgs.shape[0], mask_ratio, imgs.device, generator=g)
    else:
        noise = torch.rand(imgs.shape[0], model.patch_embed.num_patches, generator=g).to(imgs.device)
    _, pred, mask = model(imgs, mask_ratio=mask_ratio, noise=noise)
    pred = model.pred_pixels(pred.float()) if hasattr(model, "pred_pixels") else pred.float()
    if model.norm_pix_loss:
        patches = model.patchify(imgs)
        mean, var = patches.mean(-1, keepdim=True), patches.var(-1, keepdim=True)
        pred = pred * (var + 1e-6) ** 0.5 + mean
    recon = model.unpatchify(pred)
    m = model.unpatchify(mask.unsqueeze(-1).expand(-1, -1, pred.shape[-1]))
    rows = [imgs, imgs * (1 - m), recon, imgs * (1 - m) + recon * m]
    model.train(was_training)
    return torch.stack([_denorm(r) for r in rows], dim=1).flatten(0, 1)


def save_reconstructions(model, imgs: torch.Tensor, path: str | Path, mask_ratio: float = 0.75,
                         min_side: int = 128) -> Path:
    """Columns original / masked / reconstruction / reconstruction + visible, one row per image; images smaller
    than ``min_side`` px are enlarged by an integer factor (nearest neighbour, so patches stay sharp)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = reconstruction_grid(model, imgs, mask_ratio)
    factor = max(1, -(-min_side // grid.shape[-1]))
    if factor > 1:
        grid = torch.nn.functional.interpolate(grid, scale_factor=factor, mode="nearest")
    save_image(grid, path, nrow=4, padding=2, pad_value=1.0)
    return path


def read_log(log_jsonl: str | Path) -> list[dict]:
    """The rows of a ``log.jsonl``; a line that does not parse (cut off by a kill or a full disk) is skipped with a
    warning naming the file and the line."""
    rows = []
    for i, line in enumerate(Path(log_jsonl).read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if not isinstance(row, dict):
            log.warning("%s line %d is not a JSON object (cut off?); skipped: %.80s", log_jsonl, i, line)
            continue
        rows.append(row)
    return rows


def plot_loss_curve(log_jsonl: str | Path, path: str | Path, key: str = "loss") -> Path:
    """PNG of ``key`` per epoch from a ``log.jsonl``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in read_log(log_jsonl) if key in r and "epoch" in r]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    ax.plot([r["epoch"] + 1 for r in rows], [r[key] for r in rows], marker="o", ms=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"train {key}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
