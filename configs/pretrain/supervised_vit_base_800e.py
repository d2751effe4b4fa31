"""Supervised ViT-B/16 at the budget of mae_vit_base_800e: the MAE paper's from-scratch recipe
(supervised_vit_base_300e.py, appendix A.2) for 800 epochs on the same data and effective batch (4096) as MAE.

Run: tools/pretrain.sh 8 --config configs/pretrain/supervised_vit_base_800e.py --data_path /datasets/imagenet
Expect: a checkpoint with the timm encoder keys + head.* (and the EMA weights) that every transfer task accepts.
"""
_base_ = ["./supervised_vit_base_300e.py"]
epochs = 800
output_dir = "work_dirs/supervised_vit_base_800e"
