"""MoCo v3 at the demo budget (two views, momentum encoder, InfoNCE at temperature 0.2; the recipe's wd 0.1)."""
_base_ = ["./_base_.py"]
method = "mocov3"
weight_decay = 0.1
