"""The demo's ADE20K transfer: configs/ade20k/quick.py with the demo's micro ViT (128-d, 6 blocks, 4 heads, patch 8,
pretrained at 32 px) on 64 px synthetic scenes, 64 px crops (an 8x8 token map).

Run (what `make demo` runs per init and seed):
    tools/transfer.py --task ade20k --config configs/demo/ade20k.py \
        --ckpt results/demo/work/pretrain/mae/checkpoint-last.pth --data-root results/demo/work/data/ade20k --device cpu
Expected (results/demo/runs, seed 0, 60 val scenes): mIoU 12.4 supervised, 11.9 MAE, 10.4 MoCo v3, 9.2
random init; one seed, so no gap is tested (with 12 val scenes and 3 seeds none was beyond the noise).

What differs from configs/ade20k/quick.py: the micro encoder with features of blocks 2, 3, 4 and 6 (the ViT-B
recipe's 4, 6, 8, 12 scaled to 6 blocks); 64 px scenes; 400 iterations (20 warmup) instead of 300.
"""
_base_ = ["../ade20k/quick.py"]
from mae_bench.config import pipeline_with  # noqa: E402  (after _base_: see pipeline_with)

crop_size = (64, 64)
scene_size = 64
embed_dim = 128
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(img_size=crop_size, pretrain_img_size=32, patch_size=8, embed_dim=embed_dim, depth=6, num_heads=4,
                  out_indices=(1, 2, 3, 5)),
    neck=dict(embed_dim=embed_dim),
    decode_head=dict(in_channels=[embed_dim] * 4),
    auxiliary_head=dict(in_channels=embed_dim),
    test_cfg=dict(mode="slide", crop_size=crop_size, stride=(43, 43)),
)
train_pipeline = pipeline_with(_base_.train_pipeline, RandomResize=dict(scale=(4 * scene_size, scene_size)),
                               RandomCrop=dict(crop_size=crop_size))
test_pipeline = pipeline_with(_base_.test_pipeline, Resize=dict(scale=(4 * scene_size, scene_size)))
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 400  # the demo's budget: 400 iterations of batch 4 (33 passes over the 48 training scenes)
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-6, by_epoch=False, begin=0, end=20),
    dict(type="PolyLR", eta_min=0.0, power=1.0, by_epoch=False, begin=20, end=max_iters),
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=max_iters, val_begin=max_iters + 1)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
