"""MoCo v3 at the demo budget: the official ViT recipe (configs/pretrain/mocov3_vit_base_300e.py: two views,
momentum encoder 0.99 -> 1, InfoNCE at temperature 0.2, AdamW (0.9, 0.999) with weight decay 0.1 on every
parameter, the official init and frozen patch projection) on the demo's shared budget (configs/demo/_base_.py:
epochs, batch 64, lr, warmup, as MAE and supervised).

What differs from the recipe and why (demo choices): RandomResizedCrop scale 0.2-1 (MAE's) instead of 0.08-1: at
32 px a crop of 8% of the area is a 9 px patch, blown up 3.5x; projector and predictor 1024 wide instead of 4096
(the 128-d micro ViT has 1.2M parameters; 4096-wide heads would hold 20M, 17x the encoder); the
schedule is 750 steps of 64 where the paper's ViT-B run is ~94k steps of 4096.
"""
_base_ = ["./_base_.py"]
method = "mocov3"
weight_decay = 0.1
crop_scale = (0.2, 1.0)
moco_mlp_dim = 1024
