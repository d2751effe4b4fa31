"""Supervised (DeiT-style, the scenes' shape labels) at the demo budget."""
_base_ = ["./_base_.py"]
method = "supervised"
blr = 5e-4
drop_path = 0.1
