"""Mask R-CNN with a ViTDet ViT-H/14 backbone: the ViT-B recipe with H's width, depth, patch, global blocks, decay.

Run (8 GPUs x 8 images = batch 64; activation checkpointing on to fit 80 GB):
    tools/transfer.py --task coco --config configs/coco/mask_rcnn_vit_h.py \
        --ckpt work_dirs/mae_vit_h/checkpoint-last.pth --data-root /datasets/coco --gpus 8
Expected (MAE IN-1K init): box AP 56.7, mask AP 50.2 (ViTDet paper / detectron2).
GPU time: detectron2 lists 1.098 s per iteration on 64 A100s: ~56 h on 64 A100s, ~3,600 A100-hours.
As in ViTDet, the MAE ViT-H/14 patch kernel is resampled to 16x16 (``pretrain_patch_size=14``), so the
map is 64x64 at stride 16 like B and L; the pretraining position grid is 224 / 14 = 16.
"""
_base_ = ["./mask_rcnn_vit_b.py"]

model = dict(
    backbone=dict(embed_dim=1280, depth=32, num_heads=16, pretrain_patch_size=14, global_blocks=[7, 15, 23, 31],
                  drop_path_rate=0.5, with_cp=True),
    neck=dict(in_channels=1280),
)
optim_wrapper = dict(paramwise_cfg=dict(num_layers=32, layer_decay_rate=0.9))
