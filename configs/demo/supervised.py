"""Supervised (cls-token classifier on the pool's labels) at the demo budget.

What differs from the DeiT recipe (configs/pretrain/supervised_vit_base_800e.py) and why: 10 epochs of 1200
images are too few for its regularisers (Mixup 0.8, CutMix 1.0, RandAugment m9, erasing 0.25, drop path 0.1):
they are off here, label smoothing stays 0.1."""
_base_ = ["./_base_.py"]
method = "supervised"
mixup = 0.0
cutmix = 0.0
aa = None
reprob = 0.0
