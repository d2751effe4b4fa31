"""Quick COCO config for tests and the demo: the ViT-B recipe (mask_rcnn_vit_b.py) at 128 px on the tiny MAE encoder.

Run (CPU; the synthetic COCO set of 20 scenes is generated under the work dir):
    tools/transfer.py --task coco --ckpt work_dirs/tiny/checkpoint-last.pth --device cpu
Expected: from random init, box AP >= 20 on 4 training images evaluated on themselves (tests/test_learning.py;
measured 44.8 box / 37.7 mask AP, 200 iterations at 0.4-0.8 s on one CPU thread).

What differs from the recipe: the encoder geometry of ``mae_vit_tiny_patch16`` at 64 px pretraining (192-d,
12 blocks, 3 heads, patch 16; window 4 on the 8x8 map); 128 px images with a mild resize (0.8-1.25) instead of
large-scale jitter (0.1-2.0 would shrink 20 px objects to 2 px); layer decay 1.0 instead of 0.7 (0.7 over 12
blocks leaves the first block 1.4% of the head's lr, which a few hundred iterations cannot use); lr 1e-3, 200
iterations (20 warmup, x0.1 at 160), batch 2, fp32; heads of 64 channels and fewer proposals, for the CPU.
"""
_base_ = ["./mask_rcnn_vit_b.py"]
from mae_bench.config import pipeline_with  # noqa: E402  (after _base_: see pipeline_with)

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

train_pipeline = pipeline_with(_base_.train_pipeline, RandomResize=dict(scale=image_size, ratio_range=(0.8, 1.25)),
                               RandomCrop=dict(crop_size=image_size), Pad=dict(size=image_size))
test_pipeline = pipeline_with(_base_.test_pipeline, Resize=dict(scale=image_size), Pad=dict(size=image_size))
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
