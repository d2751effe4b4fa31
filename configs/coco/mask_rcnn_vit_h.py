"""Mask R-CNN with a ViTDet ViT-H/14 backbone, 75 epochs: the ViT-B recipe with H's width, depth, patch, blocks, decay.

Run (8 GPUs x 8 images = batch 64; activation checkpointing on to fit 80 GB):
    tools/transfer.py --task coco --config configs/coco/mask_rcnn_vit_h.py \
        --ckpt work_dirs/mae_vit_h/checkpoint-last.pth --data-root /datasets/coco --gpus 8
Expected (MAE IN-1K init): box AP 56.7, mask AP 50.2 (ViTDet paper / detectron2 mask_rcnn_vitdet_h_75ep).
GPU time: detectron2 lists 1.098 s per iteration on 64 A100s: 138281 iterations ~ 42 h on 64 A100s,
~2,700 A100-hours.

Reference: detectron2 projects/ViTDet/configs/COCO/mask_rcnn_vitdet_h_75ep.py (facebookresearch/detectron2
@ 02b5c4e): 1280-d, 32 blocks, 16 heads, drop path 0.5, global blocks 7, 15, 23, 31, layer decay 0.9 over 32
blocks; 100 -> 75 epochs: max_iter 184375 * 3 // 4 = 138281, lr steps 163889 * 3 // 4 = 122916 and
177546 * 3 // 4 = 133159; the warmup keeps its fraction 250 / 184375 of the schedule (detectron2 evaluates it
in the B config), i.e. 187.5 iterations, here 188. Its optimizer sets ``overrides = {}`` and
``weight_decay_norm = None``: every parameter, norms and pos_embed included, decays at 0.1.
As in ViTDet, the MAE ViT-H/14 patch kernel is resampled to 16x16 (``pretrain_patch_size=14``), so the
map is 64x64 at stride 16 like B and L; the pretraining position grid is 224 / 14 = 16.
"""
_base_ = ["./mask_rcnn_vit_b.py"]

model = dict(
    backbone=dict(embed_dim=1280, depth=32, num_heads=16, pretrain_patch_size=14, global_blocks=[7, 15, 23, 31],
                  drop_path_rate=0.5, with_cp=True),
    neck=dict(in_channels=1280),
)
optim_wrapper = dict(paramwise_cfg=dict(num_layers=32, layer_decay_rate=0.9, weight_decay_norm=None,
                                        wd_overrides=None))

max_iters = 184375 * 3 // 4  # 138281: 75 epochs at batch 64
param_scheduler = [
    dict(type="LinearLR", start_factor=0.001, by_epoch=False, begin=0, end=188),
    dict(type="MultiStepLR", begin=0, end=max_iters, by_epoch=False, milestones=[122916, 133159], gamma=0.1),
]
train_cfg = dict(max_iters=max_iters)
