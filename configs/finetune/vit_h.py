"""Fine-tune ViT-H/14 on ImageNet-1K, 50 epochs.

Run: tools/transfer.py --task finetune --model vit-h --ckpt PATH --gpus 8 --data-root /datasets/imagenet
Expect: top-1 86.9 (MAE paper, 1600-ep pretraining; 87.8 at 448 px).
GPU time (estimate): ~1000 GFLOP/img per training step, 64M images -> ~7 h on 8 H200 at 40% MFU.
"""
_base_ = ["./_base_.py"]
model = "vit-h"
epochs = 50
blr = 1e-3
layer_decay = 0.75
drop_path = 0.3
