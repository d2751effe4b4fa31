"""The demo's COCO transfer: Mask R-CNN with the ViTDet backbone of the demo's micro ViT (128-d, 6 blocks, 4 heads,
patch 8, pretrained at 32 px) on 64 px synthetic scenes (an 8x8 token map, stride 8).

Run (what `make demo` runs per init and seed):
    tools/transfer.py --task coco --config configs/demo/coco.py --ckpt results/demo/work/pretrain/mae/checkpoint-last.pth \
        --data-root results/demo/work/data/coco --device cpu
Same model and schedule as configs/coco/quick.py (itself the ViT-B recipe at toy scale, see its docstring) with the
geometry of a patch-8 encoder: the pyramid strides are 2, 4, 8, 16, 32 px instead of 4 ... 64 px, so the anchors
(16-256 px), the RoI extractors' strides and their level mapping (finest scale 28 px) follow; window attention 4x4
with global attention in blocks 3 and 6 (ViTDet puts a global block at the end of every quarter; 6 blocks: halves).
What differs from configs/coco/quick.py and why (issue 10, measured on one core): 400 iterations (at 150 every
init stayed at AP 0.0; at 400 random init reaches ~3-5 box AP and a supervised init ~8); 32 RoIs sampled per image
instead of 64 and 2 mask-head convs instead of 4, which cut an iteration from ~0.55 to ~0.3 s (the heads, not the
encoder, dominate at 64 px) so that 400 iterations fit the demo's 20 minutes.
"""
_base_ = ["../coco/quick.py"]

image_size = (64, 64)
embed_dim = 128
strides = [2, 4, 8, 16]
model = dict(
    data_preprocessor=dict(batch_augments=[dict(type="BatchFixedSizePad", size=image_size, pad_mask=True)]),
    backbone=dict(embed_dim=embed_dim, depth=6, num_heads=4, patch_size=8, img_size=image_size[0],
                  pretrain_img_size=32, window=4, global_blocks=[2, 5]),
    neck=dict(in_channels=embed_dim),
    rpn_head=dict(anchor_generator=dict(strides=[*strides, 32])),
    roi_head=dict(bbox_roi_extractor=dict(featmap_strides=strides, finest_scale=28),
                  mask_roi_extractor=dict(featmap_strides=strides, finest_scale=28), mask_head=dict(num_convs=2)),
    train_cfg=dict(rcnn=dict(sampler=dict(num=32))),
)
train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", with_bbox=True, with_mask=True),
    dict(type="RandomFlip", prob=0.5),
    dict(type="RandomResize", scale=image_size, ratio_range=(0.8, 1.25), keep_ratio=True),
    dict(type="RandomCrop", crop_type="absolute_range", crop_size=image_size, recompute_bbox=True,
         allow_negative_crop=True),
    dict(type="FilterAnnotations", min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type="Pad", size=image_size, pad_val=dict(img=(114, 114, 114))),
    dict(type="PackDetInputs"),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="Resize", scale=image_size, keep_ratio=True),
    dict(type="Pad", size=image_size, pad_val=dict(img=(114, 114, 114))),
    dict(type="LoadAnnotations", with_bbox=True, with_mask=True),
    dict(type="PackDetInputs", meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor")),
]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=4, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
synthetic = dict(num=60, size=64)

max_iters = 400  # the demo's budget: 400 iterations of batch 4 (33 passes over the 48 training scenes)
param_scheduler = [
    dict(type="LinearLR", start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type="MultiStepLR", begin=0, end=max_iters, by_epoch=False, milestones=[320], gamma=0.1),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters, val_begin=max_iters + 1)
default_hooks = dict(checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
