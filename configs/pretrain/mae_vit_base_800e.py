"""MAE ViT-B/16, 800 epochs.

Run: NNODES=8 NODE_RANK=<i> MASTER_ADDR=<host0> tools/pretrain.sh 8 --config configs/pretrain/mae_vit_base_800e.py \
         --data_path /datasets/imagenet --output_dir work_dirs/mae_vit_base_800e
Expect: fine-tuned top-1 83.6 (paper, 1600 ep; ~83.4 at 800 ep), linear probe ~68.
GPU time: 58.7 GFLOP/img x 1.28M x 800 ep = 6.0e19 FLOP, ~21 h on 8 H200 at 40% MFU.
Recipe: effective batch 4096 (64 processes x 64 x accum_iter 1; accum_iter is derived from the number of processes),
lr 2.4e-3 = 1.5e-4 x 4096 / 256; the pretrainer logs both at start.
"""
_base_ = ["./_base_.py"]
model = "mae_vit_base_patch16"
output_dir = "work_dirs/mae_vit_base_800e"
