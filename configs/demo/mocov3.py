"""MoCo v3 at the demo budget (two views, momentum encoder, InfoNCE at temperature 0.2)."""
_base_ = ["./_base_.py"]
method = "mocov3"
blr = 2e-3  # lr 2.5e-4 at batch 32, the same for every method; above the ImageNet recipes: ~400 steps in all
weight_decay = 0.1
