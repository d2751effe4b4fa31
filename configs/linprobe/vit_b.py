"""Linear probe of a ViT-B/16 on ImageNet-1K, 90 epochs.

Run: tools/transfer.py --task linprobe --model vit-b --ckpt PATH --gpus 8 --data-root /datasets/imagenet
Expect: top-1 68.0 (MAE paper; 67.8 official PyTorch re-run).
GPU time (estimate): frozen encoder, forward only (35.1 GFLOP/img), 115M images -> ~0.5 h on 8 H200
at 40% MFU; data loading dominates.
"""
_base_ = ["./_base_.py"]
model = "vit-b"
