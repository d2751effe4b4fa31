"""Linear probe of a ViT-H/14 on ImageNet-1K, 90 epochs.

Run: tools/transfer.py --task linprobe --model vit-h --ckpt PATH --gpus 8 --data-root /datasets/imagenet
Expect: top-1 76.6 (MAE paper; 77.2 official PyTorch re-run).
GPU time (estimate): forward only (~334 GFLOP/img), 115M images -> ~4.2 h on 8 H200 at 40% MFU.
"""
_base_ = ["./_base_.py"]
model = "vit-h"
