"""Mask R-CNN with a ViTDet ViT-B backbone on COCO, the ViTDet recipe (docs/references.md "COCO").

Reference: detectron2 projects/ViTDet/configs/COCO/mask_rcnn_vitdet_b_100ep.py and configs/common/optim.py
(facebookresearch/detectron2 @ 02b5c4e), trunk detectron2/modeling/backbone/vit.py, optimizer groups
detectron2/solver/build.py ``get_default_optimizer_params`` (see backbones/layer_decay.py).

Run (8 GPUs x 8 images = batch 64):
    tools/transfer.py --task coco --config configs/coco/mask_rcnn_vit_b.py \
        --ckpt work_dirs/mae_vit_b/checkpoint-last.pth --data-root /datasets/coco --gpus 8
Expected (MAE IN-1K init): box AP 51.6, mask AP 45.9 (ViTDet paper / detectron2); mmdet's port 51.6 / 45.7.
GPU time: detectron2 lists 0.314 s per iteration on 64 A100s (1 image each): 184375 iterations ~ 16 h
on 64 A100s, ~1,000 A100-hours in all; expect several days on 8 GPUs.

Recipe: LSJ 1024 (scale 0.1-2.0, crop 1024), batch 64, AdamW lr 1e-4, wd 0.1, layer decay 0.7,
drop path 0.1, 100 epochs = 184375 iterations, lr x0.1 at 163889 and 177546, 250 warmup
iterations, AMP. Window attention (14) except blocks 2, 5, 8, 11; relative positions; SimpleFPN;
RPN with 2 convs, 4conv1fc box head and mask head with LN. Position table: the 14x14 pretraining grid
resampled to 64x64 in every forward, plain bicubic (detectron2 ``get_abs_pos``).
Weight decay as detectron2's AdamW: 0.1 on every parameter (biases, relative position tables, the
neck's and heads' channel LayerNorms included) except the trunk's ``nn.LayerNorm`` (``weight_decay_norm=0``)
and ``pos_embed`` (override 0); lr x 0.7 ** (13 - layer), layer 0 = patch_embed / pos_embed, 13 = neck and heads.
Pinned by tests/test_fidelity.py against tests/expected/coco_vit_b_groups.json.
"""
_base_ = [
    "mmdet::_base_/models/mask-rcnn_r50_fpn.py",
    "mmdet::_base_/datasets/coco_instance.py",
    "mmdet::_base_/default_runtime.py",
]
custom_imports = dict(imports=["backbones.vitdet", "backbones.layer_decay", "backbones.torchvision_ops"],
                      allow_failed_imports=False)

image_size = (1024, 1024)
norm_cfg = dict(type="LN2d", requires_grad=True, eps=1e-6)  # detectron2 "LN" (mmcv would default to 1e-5)
model = dict(
    data_preprocessor=dict(pad_size_divisor=32,
                           batch_augments=[dict(type="BatchFixedSizePad", size=image_size, pad_mask=True)]),
    backbone=dict(_delete_=True, type="MAEViTDet", embed_dim=768, depth=12, num_heads=12, patch_size=16,
                  img_size=image_size[0], pretrain_img_size=224, window=14, global_blocks=[2, 5, 8, 11],
                  use_rel_pos=True, drop_path_rate=0.1, with_cp=False, checkpoint=None),
    neck=dict(_delete_=True, type="SimpleFPN", in_channels=768, out_channels=256, scales=[4, 2, 1, 0.5], num_outs=5,
              norm_cfg=norm_cfg),
    rpn_head=dict(num_convs=2),
    roi_head=dict(bbox_head=dict(type="Shared4Conv1FCBBoxHead", conv_out_channels=256, norm_cfg=norm_cfg),
                  mask_head=dict(norm_cfg=norm_cfg)),
)

# Large-scale jitter
train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", with_bbox=True, with_mask=True),
    dict(type="RandomFlip", prob=0.5),
    dict(type="RandomResize", scale=image_size, ratio_range=(0.1, 2.0), keep_ratio=True),
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
# InfiniteSampler as detectron2's TrainingSampler (an endless stream), so mmengine's 2 s sleep at every epoch end of a
# finite sampler (mmengine/runner/loops.py) never fires
train_dataloader = dict(batch_size=8, num_workers=8, sampler=dict(type="InfiniteSampler", shuffle=True),
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=2, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    type="AmpOptimWrapper",
    constructor="LayerDecayOptimWrapperConstructor",
    paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.7, wd_rule="detectron2", weight_decay_norm=0.0,
                       wd_overrides={"pos_embed": 0.0}),
    optimizer=dict(type="AdamW", lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1),
)

max_iters = 184375  # 100 epochs at batch 64 on 118k images
interval = 5000
param_scheduler = [
    dict(type="LinearLR", start_factor=0.001, by_epoch=False, begin=0, end=250),
    dict(type="MultiStepLR", begin=0, end=max_iters, by_epoch=False, milestones=[163889, 177546], gamma=0.1),
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=interval)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
default_hooks = dict(logger=dict(interval=50),
                     checkpoint=dict(by_epoch=False, interval=interval, save_last=True, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(base_batch_size=64, enable=False)
