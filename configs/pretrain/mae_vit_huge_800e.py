"""MAE ViT-H/14, 800 epochs.

Run: tools/pretrain.sh 8 --config configs/pretrain/mae_vit_huge_800e.py --data_path /datasets/imagenet
Expect: fine-tuned top-1 ~86.6 at 800 ep (86.9 at 1600).
GPU time: 291.4 GFLOP/img -> ~105 h on 8 H200 at 40% MFU.
Recipe: effective batch 4096 (8 GPUs x 64 x accum_iter 8; accum_iter is derived from the number of processes),
lr 2.4e-3 = 1.5e-4 x 4096 / 256; the pretrainer logs both at start.
"""
_base_ = ["./_base_.py"]
model = "mae_vit_huge_patch14"
output_dir = "work_dirs/mae_vit_huge_800e"
