"""Fine-tune ViT-B/16 on ImageNet-1K, 100 epochs.

Run: tools/transfer.py --task finetune --model vit-b --ckpt work_dirs/mae_vit_base_1600e/checkpoint-1600.pth \
         --gpus 8 --data-root /datasets/imagenet
Expect: top-1 83.6 (MAE paper, 1600-ep pretraining).
GPU time (estimate): 105.4 GFLOP/img per training step (docs/references.md), 128M images -> ~1.5 h on
8 H200 at 40% MFU (790 TFLOP/s peak); RandAug data loading usually dominates (official: ~10 workers/GPU).
"""
_base_ = ["./_base_.py"]
model = "vit-b"
epochs = 100
blr = 5e-4
layer_decay = 0.65
drop_path = 0.1
