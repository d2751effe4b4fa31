"""MoCo v3 at the demo budget (two views, momentum encoder, InfoNCE at temperature 0.2; the recipe's wd 0.1).

What differs from the recipe and why: RandomResizedCrop scale 0.2-1 (MAE's) instead of 0.08-1: at 32 px a crop of
8% of the area is a 9 px patch, blown up 3.5x."""
_base_ = ["./_base_.py"]
method = "mocov3"
weight_decay = 0.1
crop_scale = (0.2, 1.0)
