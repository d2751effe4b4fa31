"""The demo's frozen dense probe: the frozen micro ViT (128-d, 6 blocks, patch 8, pretrained at 32 px), a BatchNorm +
1x1 conv head on its last block, 64 px crops of the 64 px ADE20K-layout scenes (configs/ade20k_linear/quick.py at
the demo's size), 100 iterations.

Run (what `make demo` runs per init): tools/transfer.py --task ade20k_linear --config configs/demo/ade20k_linear.py \
    --ckpt PATH|random --data-root results/demo/work/data/ade20k --device cpu
Expected (results/demo/runs, seed 0, 60 val scenes): mIoU 10.5 supervised, 5.8 MAE, 5.5 random init, 4.2
MoCo v3.
"""
_base_ = ["../ade20k_linear/quick.py"]
from mae_bench.config import pipeline_with  # noqa: E402  (after _base_: see pipeline_with)

scene_size = 64
model = dict(
    backbone=dict(img_size=(64, 64), pretrain_img_size=32, patch_size=8, embed_dim=128, depth=6, num_heads=4),
    decode_head=dict(in_channels=128, channels=128),
)
max_iters = 100
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-6, by_epoch=False, begin=0, end=5),
    dict(type="PolyLR", eta_min=0.0, power=1.0, by_epoch=False, begin=5, end=max_iters),
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=max_iters, val_begin=max_iters + 1)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
train_pipeline = pipeline_with(_base_.train_pipeline, RandomResize=dict(scale=(4 * scene_size, scene_size)))
test_pipeline = pipeline_with(_base_.test_pipeline, Resize=dict(scale=(4 * scene_size, scene_size)))
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
