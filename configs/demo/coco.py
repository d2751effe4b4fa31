"""The demo's COCO transfer: configs/coco/quick.py with the demo's micro ViT (128-d, 6 blocks, 4 heads, patch 8,
pretrained at 32 px) on 64 px synthetic scenes (an 8x8 token map, stride 8).

Run (what `make demo` runs per init and seed):
    tools/transfer.py --task coco --config configs/demo/coco.py \
        --ckpt results/demo/work/pretrain/mae/checkpoint-last.pth --data-root results/demo/work/data/coco --device cpu
Expected (results/demo/runs, seed 0, 60 val scenes): box AP 5.0 supervised, 3.4 MAE, 2.4 random init,
2.3 MoCo v3; one seed, so no gap is tested (with 12 val scenes and 3 seeds none was beyond the noise).

What differs from configs/coco/quick.py: the patch-8 geometry (pyramid strides 2, 4, 8, 16, 32 px, so the anchors,
the RoI extractors' strides and their level mapping (finest scale 28 px) follow; window 4 with global attention in
blocks 3 and 6); 400 iterations of batch 4 (x0.1 at 320); 32 RoIs sampled per image and 2 mask-head convs, which
cut an iteration from ~0.55 to ~0.3 s so that 400 iterations fit the demo's budget.
"""
_base_ = ["../coco/quick.py"]
from mae_bench.config import pipeline_with  # noqa: E402  (after _base_: see pipeline_with)

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
train_pipeline = pipeline_with(_base_.train_pipeline, RandomResize=dict(scale=image_size),
                               RandomCrop=dict(crop_size=image_size), Pad=dict(size=image_size))
test_pipeline = pipeline_with(_base_.test_pipeline, Resize=dict(scale=image_size), Pad=dict(size=image_size))
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
