"""Supervised (DeiT-style) ViT-B/16 at the budget of mae_vit_base_800e: same data, epochs, effective batch.

Run: tools/pretrain.sh 8 --config configs/pretrain/supervised_vit_base_800e.py --data_path /datasets/imagenet
Recipe pieces (DeiT, Touvron et al. 2021): RandAugment m9, random erasing 0.25, Mixup 0.8 / CutMix 1.0,
label smoothing 0.1, drop path 0.1, lr 5e-4 x batch / 512 (= blr 2.5e-4), wd 0.05, 5 warmup epochs
(the augmentation constants live in mae_bench/methods/supervised.py). The MAE paper's supervised
baseline is 82.3 top-1 (ViT-B, from scratch); for the published 300-epoch recipe pass --epochs 300.
Expect: a checkpoint with the timm encoder keys + head.* that every transfer task accepts.
"""
_base_ = ["./mae_vit_base_800e.py"]
method = "supervised"
blr = 2.5e-4
drop_path = 0.1
warmup_epochs = 5
output_dir = "work_dirs/supervised_vit_base_800e"
