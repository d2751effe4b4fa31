"""DeiT-style supervised pretraining of the same ViT: cls-token classifier on the dataset's labels.

Recipe pieces from timm (Touvron et al. 2021, DeiT): RandAugment ``rand-m9-mstd0.5-inc1``, random
erasing 0.25, Mixup 0.8 / CutMix 1.0 (switch prob 0.5) with label smoothing 0.1 and
``SoftTargetCrossEntropy``. The checkpoint's ``model`` holds the timm-named encoder plus ``head.*``.
"""
from __future__ import annotations

from timm.data import Mixup, create_transform
from timm.loss import SoftTargetCrossEntropy

from ..data import IMAGENET_MEAN, IMAGENET_STD
from ..engine.pretrain import Method, PretrainConfig, model_device
from ..models.classifier import ViTClassifier
from ..models.vit import init_linear_and_norm
from .common import encoder_kwargs, num_classes

MIXUP, CUTMIX, SWITCH_PROB, SMOOTHING = 0.8, 1.0, 0.5, 0.1
RAND_AUGMENT, RE_PROB = "rand-m9-mstd0.5-inc1", 0.25


def supervised_transform(input_size: int):
    """timm's training transform with the DeiT settings (bicubic RandomResizedCrop, flip, RandAugment, erasing)."""
    return create_transform(input_size, is_training=True, color_jitter=0.4, auto_augment=RAND_AUGMENT,
                            interpolation="bicubic", re_prob=RE_PROB, re_mode="pixel", re_count=1,
                            mean=IMAGENET_MEAN, std=IMAGENET_STD)


def build_supervised(cfg: PretrainConfig) -> Method:
    n_cls = num_classes(cfg)
    model = ViTClassifier(n_cls, global_pool=False, **encoder_kwargs(cfg))  # cls token + head, as DeiT
    model.apply(init_linear_and_norm)
    model.init_encoder_weights()
    model.init_head(std=0.02)
    mixup = Mixup(mixup_alpha=MIXUP, cutmix_alpha=CUTMIX, switch_prob=SWITCH_PROB, mode="batch",
                  label_smoothing=SMOOTHING, num_classes=n_cls)
    criterion = SoftTargetCrossEntropy()
    if cfg.batch_size % 2:
        raise ValueError(f"--method supervised mixes pairs of images: --batch_size must be even, got {cfg.batch_size}")

    def step(model, batch):
        device = model_device(model)
        imgs, targets = mixup(batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True))
        return criterion(model(imgs), targets), imgs.shape[0]

    return Method(model=model, step=step, transform=supervised_transform(cfg.input_size))
