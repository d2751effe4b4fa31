"""MoCo v3 at the demo budget (two views, momentum encoder, InfoNCE at temperature 0.2)."""
_base_ = ["./_base_.py"]
method = "mocov3"
blr = 1.5e-4
weight_decay = 0.1
