"""Supervised (DeiT-style, the scenes' shape labels) at the demo budget."""
_base_ = ["./_base_.py"]
method = "supervised"
blr = 2e-3  # lr 2.5e-4 at batch 32, the same for every method; above the ImageNet recipes: ~400 steps in all
drop_path = 0.1
