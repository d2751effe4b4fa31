"""Supervised pretraining of the same ViT from scratch: cls-token classifier on the dataset's labels (the MAE
paper's from-scratch recipe, appendix A.2, is configs/pretrain/supervised_vit_base_300e.py; its EMA is the
pretraining run's ``model_ema``).

Recipe pieces from timm (Touvron et al. 2021, DeiT): RandAugment ``rand-m9-mstd0.5-inc1``, random
erasing 0.25, Mixup 0.8 / CutMix 1.0 (switch prob 0.5) with label smoothing 0.1 and
``SoftTargetCrossEntropy``. The checkpoint's ``model`` holds the timm-named encoder plus ``head.*``.
"""
from __future__ import annotations

import torch.nn.functional as F
from timm.data import Mixup, create_transform
from timm.loss import SoftTargetCrossEntropy

from ..data import IMAGENET_MEAN, IMAGENET_STD
from ..errors import ConfigError
from ..models.classifier import ViTClassifier
from ..models.vit import init_linear_and_norm
from .base import Method, PretrainConfig, model_device
from .common import encoder_kwargs, num_classes

SWITCH_PROB = 0.5
RAND_AUGMENT, RE_PROB = "rand-m9-mstd0.5-inc1", 0.25  # PretrainConfig's defaults (aa, reprob) are these


def supervised_transform(input_size: int, aa: str | None = RAND_AUGMENT, reprob: float = RE_PROB,
                         crop_scale: tuple[float, float] | None = None):
    """timm's training transform with the DeiT settings (bicubic RandomResizedCrop, scale 0.08-1 = timm's default
    unless given, flip, RandAugment, erasing)."""
    return create_transform(input_size, is_training=True, scale=crop_scale, color_jitter=0.4, auto_augment=aa,
                            interpolation="bicubic", re_prob=reprob, re_mode="pixel", re_count=1,
                            mean=IMAGENET_MEAN, std=IMAGENET_STD)


def build_supervised(cfg: PretrainConfig) -> Method:
    n_cls = num_classes(cfg)
    model = ViTClassifier(n_cls, global_pool=False, **encoder_kwargs(cfg))  # cls token + head, as DeiT
    model.apply(init_linear_and_norm)
    model.init_encoder_weights()
    model.init_head(std=0.02)
    mixup = None
    if cfg.mixup > 0 or cfg.cutmix > 0:
        mixup = Mixup(mixup_alpha=cfg.mixup, cutmix_alpha=cfg.cutmix, switch_prob=SWITCH_PROB, mode="batch",
                      label_smoothing=cfg.smoothing, num_classes=n_cls)
    criterion = SoftTargetCrossEntropy()
    if cfg.batch_size % 2:
        raise ConfigError(f"--method supervised mixes pairs of images: --batch_size must be even, got {cfg.batch_size}")

    def step(model, batch):
        device = model_device(model)
        imgs, targets = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
        if mixup is None:
            return F.cross_entropy(model(imgs), targets, label_smoothing=cfg.smoothing), imgs.shape[0]
        imgs, soft = mixup(imgs, targets)
        return criterion(model(imgs), soft), imgs.shape[0]

    transform = supervised_transform(cfg.input_size, cfg.aa, cfg.reprob, cfg.crop_scale)
    return Method(model=model, step=step, transform=transform)
