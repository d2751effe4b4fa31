"""Quick COCO config for tests and the demo: the ViT-B recipe shrunk to the tiny MAE encoder and 128 px images,
with a schedule that learns at this scale.

Run (CPU; the synthetic COCO set of 20 scenes is generated under the work dir):
    tools/transfer.py --task coco --ckpt work_dirs/tiny/checkpoint-last.pth --device cpu
Encoder geometry of ``mae_vit_tiny_patch16`` at 64 px pretraining (192-d, 12 blocks, 3 heads, patch 16),
so any tiny mae-bench pretraining checkpoint plugs in; window 4 on the 8x8 map.
Expected: from random init, box AP >= 20 on 4 training images evaluated on themselves (tests/test_learning.py;
measured 44.8 box / 37.7 mask AP, 200 iterations at 0.4-0.8 s on one CPU thread).

What differs from the full recipe (mask_rcnn_vit_b.py, detectron2 ViTDet) and why:
- layer decay 1.0 instead of 0.7: over 12 blocks 0.7 leaves the first block 1.4% of the head's lr, which a few
  hundred iterations cannot use (with 0.7 the detector stayed at AP 0.6 after 400 iterations, issue 10);
- no large-scale jitter (scale 0.1-2.0 of a 1024 crop): at 128 px it shrinks 20 px objects to 2 px and spends the
  few iterations on empty crops; a mild resize (0.8-1.25) and flip remain;
- lr 1e-3 with 20 warmup iterations and one x0.1 step at 80% of 200 iterations, batch 2, fp32, AdamW wd 0.1;
- smaller heads (64 channels) and fewer proposals, for the CPU.
The sampler (InfiniteSampler) is the recipe's.
"""
_base_ = ["./mask_rcnn_vit_b.py"]

image_size = (128, 128)
width = 64
model = dict(
    data_preprocessor=dict(batch_augments=[dict(type="BatchFixedSizePad", size=image_size, pad_mask=True)]),
    backbone=dict(embed_dim=192, depth=12, num_heads=3, img_size=image_size[0], pretrain_img_size=64, window=4,
                  drop_path_rate=0.0),
    neck=dict(in_channels=192, out_channels=width),
    rpn_head=dict(in_channels=width, feat_channels=width),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=width),
        bbox_head=dict(in_channels=width, conv_out_channels=width, fc_out_channels=128),
        mask_roi_extractor=dict(out_channels=width),
        mask_head=dict(in_channels=width, conv_out_channels=width),
    ),
    train_cfg=dict(rpn_proposal=dict(nms_pre=200, max_per_img=100), rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=50), rcnn=dict(max_per_img=20)),
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
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(type="OptimWrapper", paramwise_cfg=dict(layer_decay_rate=1.0), optimizer=dict(lr=1e-3))
max_iters = 200
param_scheduler = [
    dict(type="LinearLR", start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type="MultiStepLR", begin=0, end=max_iters, by_epoch=False, milestones=[160], gamma=0.1),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters, val_begin=max_iters + 1)  # only the final test
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
synthetic = dict(num=20, size=128)  # the set tools/transfer.py generates when no --data-root is given
