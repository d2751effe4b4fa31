"""MoCo v3 (Chen, Xie, He 2021) for ViT on the shared engine, as the official code trains a ViT
(facebookresearch/moco-v3 @ c349e6e: vits.py, moco/builder.py, main_moco.py and CONFIG.md's ViT commands).

Base encoder = the ViT with the official init (``init_mocov3_vit``: xavier-uniform Linear layers with the qkv
bound computed per Q, K and V, zero biases, cls token N(0, 1e-6), xavier-uniform patch projection with a zero
bias, both frozen, fixed 2D sin-cos position table); 3-layer projection MLP and 2-layer prediction MLP, 4096
hidden and 256 out (``--moco_mlp_dim``, ``--moco_dim``), BatchNorm after every Linear (the last one without
affine); a momentum copy of encoder + projector, updated after every optimizer step with m rising from 0.99 to 1
on a half cosine; symmetrised InfoNCE with temperature 0.2 over the keys of all processes, scaled by 2T as in the
official code. Optimiser (``OPTIMIZER``): AdamW with torch's default betas (0.9, 0.999), weight decay on every
trained parameter (main_moco.py passes ``model.parameters()``: no exclusion groups). Views: the BYOL augmentations
of the paper (crop 0.08-1, colour jitter 0.8, grey 0.2, blur 1.0 / 0.1, solarise 0 / 0.2, flip). The checkpoint's
``model`` holds the timm-named base encoder plus ``projector.*``, ``predictor.*``, ``momentum_encoder.*`` and
``momentum_projector.*``. A contrastive loss and BatchNorm do not split over micro-batches, so the pretraining
run refuses to accumulate gradients for this method (``mae_bench.pretrain.run``, docs/fidelity.md).
"""
from __future__ import annotations

import math
import os

import torch
import torch.distributed as tdist
import torch.nn as nn
import torch.nn.functional as F
from torchvision import transforms
from torchvision.transforms import InterpolationMode

from ..data import IMAGENET_MEAN, IMAGENET_STD
from ..engine.trainer import Hook
from ..models.vit import VisionTransformer, init_linear_and_norm, init_patch_proj
from .base import Method, PretrainConfig, model_device
from .common import encoder_kwargs

# main_moco.py flags of CONFIG.md's ViT commands: --moco-t .2, --moco-m 0.99 (--moco-m-cos), --moco-dim 256,
# --moco-mlp-dim 4096 (its default)
TEMPERATURE, MOMENTUM, OUT_DIM, MLP_DIM = 0.2, 0.99, 256, 4096
# main_moco.py: torch.optim.AdamW(model.parameters(), lr, weight_decay=wd): torch's default betas and eps; every
# parameter decays (frozen ones get no gradient and are skipped by the optimizer)
OPTIMIZER = dict(betas=(0.9, 0.999), decay_all=True)
CLS_TOKEN_STD = 1e-6  # vits.py: nn.init.normal_(self.cls_token, std=1e-6)


def qkv_bound(weight: torch.Tensor) -> float:
    """vits.py's uniform bound for the fused qkv weight [3D, D]: xavier for one of Q, K, V, sqrt(6 / (D + D))."""
    return math.sqrt(6.0 / (weight.shape[0] // 3 + weight.shape[1]))


def init_mocov3_vit(vit: VisionTransformer) -> None:
    """The official ViT init (vits.py ``VisionTransformerMoCo.__init__``): every Linear xavier-uniform, the fused qkv
    with ``qkv_bound``, biases zero; LayerNorm 1 / 0; cls token N(0, 1e-6); the patch projection xavier-uniform
    (over its 3 x p x p inputs) with a zero bias. The position table is the fixed 2D sin-cos one."""
    for name, m in vit.named_modules():  # one module at a time, in order: the random draws as vits.py makes them
        if isinstance(m, nn.Linear) and "qkv" in name:
            bound = qkv_bound(m.weight)
            nn.init.uniform_(m.weight, -bound, bound)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        else:
            init_linear_and_norm(m)  # MAE's: xavier-uniform Linear with zero bias, LayerNorm 1 / 0
    nn.init.normal_(vit.cls_token, std=CLS_TOKEN_STD)
    init_patch_proj(vit.patch_embed.proj)
    nn.init.zeros_(vit.patch_embed.proj.bias)


def build_mlp(num_layers: int, in_dim: int, mlp_dim: int, out_dim: int) -> nn.Sequential:
    """Linear (no bias) + BN + ReLU per hidden layer; the last Linear is followed by BN(affine=False)."""
    layers = []
    for i in range(num_layers):
        last = i == num_layers - 1
        d1, d2 = in_dim if i == 0 else mlp_dim, out_dim if last else mlp_dim
        layers += [nn.Linear(d1, d2, bias=False), nn.BatchNorm1d(d2, affine=not last)]
        if not last:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def concat_all_gather(x: torch.Tensor) -> torch.Tensor:
    """[N, D] per process -> [world * N, D] (no gradient); identity when not distributed."""
    if not (tdist.is_available() and tdist.is_initialized()) or tdist.get_world_size() == 1:
        return x
    out = [torch.empty_like(x) for _ in range(tdist.get_world_size())]
    tdist.all_gather(out, x.contiguous())
    return torch.cat(out)


def infonce(q: torch.Tensor, k: torch.Tensor, temperature: float) -> torch.Tensor:
    """q [N, D] against the keys of every process; the positive of q[i] is this process's k[i]."""
    q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
    k_all = concat_all_gather(k)
    rank = tdist.get_rank() if tdist.is_available() and tdist.is_initialized() else 0
    labels = torch.arange(q.shape[0], device=q.device) + rank * q.shape[0]
    return F.cross_entropy(q @ k_all.t() / temperature, labels) * 2 * temperature


class MoCoV3(VisionTransformer):
    """The base encoder is this ViT itself (timm keys at the top level); heads and momentum copies are children."""

    def __init__(self, out_dim: int = OUT_DIM, mlp_dim: int = MLP_DIM, temperature: float = TEMPERATURE,
                 **vit_kwargs):
        super().__init__(**vit_kwargs)
        init_mocov3_vit(self)
        self.patch_embed.requires_grad_(False)  # --stop-grad-conv1: the random patch projection, weight and bias
        self.temperature = temperature
        self.projector = build_mlp(3, self.embed_dim, mlp_dim, out_dim)
        self.predictor = build_mlp(2, out_dim, mlp_dim, out_dim)
        self.momentum_encoder = VisionTransformer(**vit_kwargs)
        self.momentum_projector = build_mlp(3, self.embed_dim, mlp_dim, out_dim)
        self.momentum_encoder.load_state_dict(self.encoder_state_dict())
        self.momentum_projector.load_state_dict(self.projector.state_dict())
        self.momentum_encoder.requires_grad_(False)
        self.momentum_projector.requires_grad_(False)

    def base_pairs(self):
        """(base, momentum) parameter pairs: encoder then projector."""
        own = dict(self.named_parameters())
        yield from ((own[k], pm) for k, pm in self.momentum_encoder.named_parameters())
        yield from zip(self.projector.parameters(), self.momentum_projector.parameters())

    @torch.no_grad()
    def update_momentum(self, m: float) -> None:
        for p, pm in self.base_pairs():
            pm.mul_(m).add_(p.detach(), alpha=1 - m)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """Two views [N, 3, H, W] each -> symmetrised InfoNCE loss (scalar)."""
        q1 = self.predictor(self.projector(self.forward_features(x1)[:, 0]))
        q2 = self.predictor(self.projector(self.forward_features(x2)[:, 0]))
        with torch.no_grad():
            k1 = self.momentum_projector(self.momentum_encoder(x1)[:, 0])
            k2 = self.momentum_projector(self.momentum_encoder(x2)[:, 0])
        return infonce(q1, k2, self.temperature) + infonce(q2, k1, self.temperature)


def cosine_momentum(progress: float, base: float = MOMENTUM) -> float:
    """m at ``progress`` in [0, 1] of training: base at the start, 1 at the end (half cosine)."""
    return 1.0 - 0.5 * (1.0 + math.cos(math.pi * progress)) * (1.0 - base)


class MomentumHook(Hook):
    """After every optimizer step: momentum encoder <- m * momentum + (1 - m) * base, m = cosine_momentum."""

    def __init__(self, base: float = MOMENTUM):
        self.base = base

    def after_step(self, trainer) -> None:
        it, epoch = trainer.state["iteration"], trainer.state["epoch"]
        n = trainer.iters_per_epoch()
        if not trainer.steps_after(it):
            return  # no optimizer step yet
        m = cosine_momentum((epoch + it / n) / trainer.epochs, self.base)
        model = trainer.model.module if hasattr(trainer.model, "module") else trainer.model
        model.update_momentum(m)
        trainer.state["momentum"] = m


class TwoViews:
    """Two differently augmented views of one image (BYOL / MoCo v3 augmentations)."""

    def __init__(self, input_size: int, crop_scale: tuple[float, float] | None = None):
        scale = tuple(crop_scale or (0.08, 1.0))  # the MoCo v3 / BYOL crop unless given
        self.views = [self._view(input_size, blur_p, solarize_p, scale)
                      for blur_p, solarize_p in ((1.0, 0.0), (0.1, 0.2))]

    @staticmethod
    def _view(size: int, blur_p: float, solarize_p: float, scale: tuple[float, float]) -> transforms.Compose:
        kernel = max(3, int(0.1 * size) // 2 * 2 + 1)  # ~10% of the image, odd (23 at 224 px)
        return transforms.Compose([
            transforms.RandomResizedCrop(size, scale=scale, interpolation=InterpolationMode.BICUBIC),
            transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
            transforms.RandomGrayscale(p=0.2),
            transforms.RandomApply([transforms.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=blur_p),
            transforms.RandomSolarize(128, p=solarize_p),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ])

    def __call__(self, img) -> list[torch.Tensor]:
        return [view(img) for view in self.views]


def build_mocov3(cfg: PretrainConfig) -> Method:
    model = MoCoV3(out_dim=cfg.moco_dim, mlp_dim=cfg.moco_mlp_dim, temperature=cfg.moco_t, **encoder_kwargs(cfg))
    if cfg.device.startswith("cuda") and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # as the official code (BN over the global batch)

    def step(model, batch):
        device = model_device(model)
        x1, x2 = (v.to(device, non_blocking=True) for v in batch[0])
        return model(x1, x2), x1.shape[0]

    return Method(model=model, step=step, hooks=[MomentumHook(cfg.moco_m)],
                  transform=TwoViews(cfg.input_size, cfg.crop_scale), **OPTIMIZER)
