"""Fine-tune ViT-L/16 on ImageNet-1K, 50 epochs.

Run: tools/transfer.py --task finetune --model vit-l --ckpt PATH --gpus 8 --data-root /datasets/imagenet
Expect: top-1 85.9 (MAE paper, 1600-ep pretraining).
GPU time (estimate): ~370 GFLOP/img per training step, 64M images -> ~2.6 h on 8 H200 at 40% MFU.
"""
_base_ = ["./_base_.py"]
model = "vit-l"
epochs = 50
blr = 1e-3
layer_decay = 0.75
drop_path = 0.2
