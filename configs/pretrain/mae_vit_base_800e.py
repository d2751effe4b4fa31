"""MAE ViT-B/16, 800 epochs.

Run: NNODES=8 NODE_RANK=<i> MASTER_ADDR=<host0> tools/pretrain.sh 8 --config configs/pretrain/mae_vit_base_800e.py \
         --data_path /datasets/imagenet --output_dir work_dirs/mae_vit_base_800e
Expect: fine-tuned top-1 83.6 (paper, 1600 ep; ~83.4 at 800 ep), linear probe ~68.
GPU time: 58.7 GFLOP/img x 1.28M x 800 ep = 6.0e19 FLOP, ~21 h on 8 H200 at 40% MFU.
"""
_base_ = ["./_base_.py"]
model = "mae_vit_base_patch16"
output_dir = "work_dirs/mae_vit_base_800e"
