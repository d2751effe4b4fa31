"""Linear probe of a ViT-L/16 on ImageNet-1K, 90 epochs.

Run: tools/transfer.py --task linprobe --model vit-l --ckpt PATH --gpus 8 --data-root /datasets/imagenet
Expect: top-1 75.8 (MAE paper; 76.0 official PyTorch re-run).
GPU time (estimate): forward only (~123 GFLOP/img), 115M images -> ~1.6 h on 8 H200 at 40% MFU.
"""
_base_ = ["./_base_.py"]
model = "vit-l"
