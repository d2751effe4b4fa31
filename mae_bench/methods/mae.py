"""MAE pretraining, the method: the network of ``mae_bench.models.mae_vit`` trained on its reconstruction loss.

The Table 1 ablation options of ``PretrainConfig`` reach the model here; ``--aug`` other than the recipe's
``crop_rand`` trains through the torchvision transforms of ``data.imagefolder.pretrain_transform``, and
``--target pca`` fits its basis before the first step (``PCAFitHook``).
"""
from __future__ import annotations

import logging
import math

import torch

from ..data.fast import to_model_input
from ..data.imagefolder import pretrain_transform
from ..engine.trainer import Hook
from ..engine.training_state import unwrap
from ..models import create_mae
from ..models.mae_vit import pca_from_sums
from .base import Method, PretrainConfig, model_device

log = logging.getLogger("mae_bench.pretrain")


class PCAFitHook(Hook):
    """``--target pca``: before the first step of a fresh run, the PCA basis of the patches of the first
    ``images`` training crops (epoch 0's order, the model's normalised input; sums over all processes), the
    ``pca_dim`` largest components; stored in the model's buffers, so it is saved and resumed with the weights."""

    def __init__(self, images: int, input_size: int):
        self.images, self.input_size = images, input_size

    def before_train(self, trainer) -> None:
        model = unwrap(trainer.model)
        if model.pca_fitted():
            return
        device = model_device(model)
        total, outer, count = None, None, 0
        batches = max(1, math.ceil(self.images / (getattr(trainer.loader, 'batch_size', None) or 1)))
        for i, batch in enumerate(trainer.loader):
            if i >= batches:
                break
            x = model.patchify(to_model_input(batch[0], device, self.input_size)).double().flatten(0, 1)
            total = x.sum(0) if total is None else total + x.sum(0)
            outer = x.T @ x if outer is None else outer + x.T @ x
            count += x.shape[0]
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            n = torch.tensor([float(count)], device=device, dtype=torch.float64)
            for t in (total, outer, n):
                torch.distributed.all_reduce(t)
            count = int(n.item())
        mean, basis = pca_from_sums(total, outer, count, model.pca_basis.shape[1])
        model.set_pca(mean.to(device), basis.to(device))
        log.info("target pca: basis of %d components fitted on %d patches", basis.shape[1], count)


def build_mae(cfg: PretrainConfig) -> Method:
    model = create_mae(cfg.model, img_size=cfg.input_size, patch_size=cfg.patch_size, norm_pix_loss=cfg.norm_pix_loss,
                       decoder_embed_dim=cfg.decoder_embed_dim, decoder_depth=cfg.decoder_depth,
                       decoder_num_heads=cfg.decoder_num_heads, mask_ratio=cfg.mask_ratio,
                       drop_path_rate=cfg.drop_path, mask_sampling=cfg.mask_sampling,
                       block_min_patches=cfg.block_min_patches, encoder_mask_token=cfg.encoder_mask_token,
                       target=cfg.target, pca_dim=cfg.pca_dim, loss_on=cfg.loss_on)

    def step(model, batch):
        imgs = to_model_input(batch[0], model_device(model), cfg.input_size)
        loss, _, _ = model(imgs, mask_ratio=cfg.mask_ratio)
        return loss, imgs.shape[0]

    hooks = [PCAFitHook(cfg.pca_fit_images, cfg.input_size)] if cfg.target == "pca" else []
    transform = None if cfg.aug == "crop_rand" else pretrain_transform(cfg.input_size, cfg.crop_scale, cfg.aug)
    # timm 0.3.2 add_weight_decay, as main_pretrain.py
    return Method(model=model, step=step, hooks=hooks, transform=transform, no_decay_names=())
