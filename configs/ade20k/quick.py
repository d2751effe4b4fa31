"""Quick mode of the ADE20K recipe (upernet_vit_b.py): tiny MAE encoder, 64 px crops of 96 px scenes, on the CPU.

Run (synthetic ADE20K-layout set of 40 scenes generated under the work dir):
    tools/transfer.py --task ade20k --ckpt work_dirs/tiny_mae/checkpoint-last.pth --device cpu
Expected: from random init, mIoU >= 50 on 8 training scenes evaluated on themselves (tests/test_learning.py;
measured 68.8 mIoU, 300 iterations at 0.1-0.25 s on one CPU thread).

What differs from the recipe: the ``mae_vit_tiny_patch16`` encoder (192-d, 12 blocks, 3 heads, pretrained at
64 px, no drop path); 64 px crops, resize ratio 0.75-1.5 instead of 0.5-2.0 (at 96 px a 0.5 resize leaves 5 px
objects), sliding-window stride 43 (2/3 of the crop, as the recipe); heads of 64 channels, BatchNorm instead of
SyncBN, fp32; layer decay 1.0 instead of 0.65 (0.65 over 12 blocks leaves the first blocks < 1% of the head's
lr); lr 1e-3 with 30 warmup iterations of 300; no validation during training (the run ends with the test).
"""
_base_ = ["./upernet_vit_b.py"]
from mae_bench.config import pipeline_with  # noqa: E402  (after _base_: see pipeline_with)

custom_imports = dict(imports=["backbones.vit_seg", "backbones.layer_decay", "backbones.synthetic_seg"],
                      allow_failed_imports=False)

crop_size = (64, 64)
scene_size = 96  # tools/make_synthetic.py --size of the generated set
embed_dim = 192
num_classes = 9  # mae_bench.data.SEMANTIC_CLASSES
norm_cfg = dict(type="BN", requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(img_size=crop_size, pretrain_img_size=64, embed_dim=embed_dim, depth=12, num_heads=3,
                  out_indices=(3, 5, 7, 11), drop_path_rate=0.0),
    neck=dict(embed_dim=embed_dim, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=[embed_dim] * 4, channels=64, num_classes=num_classes, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=embed_dim, channels=32, num_classes=num_classes, norm_cfg=norm_cfg),
    test_cfg=dict(mode="slide", crop_size=crop_size, stride=(43, 43)),
)

optim_wrapper = dict(type="OptimWrapper", optimizer=dict(lr=1e-3), paramwise_cfg=dict(layer_decay_rate=1.0))
max_iters = 300
warmup_iters = 30
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-6, by_epoch=False, begin=0, end=warmup_iters),
    dict(type="PolyLR", eta_min=0.0, power=1.0, by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=max_iters, val_begin=max_iters + 1)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))

dataset_type = "SyntheticADE20KDataset"
data_root = "data/synthetic_ade20k"
train_pipeline = pipeline_with(_base_.train_pipeline,
                               RandomResize=dict(scale=(4 * scene_size, scene_size), ratio_range=(0.75, 1.5)),
                               RandomCrop=dict(crop_size=crop_size))
test_pipeline = pipeline_with(_base_.test_pipeline, Resize=dict(scale=(4 * scene_size, scene_size)))
img_ratios = [0.75, 1.0, 1.25]
tta_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="TestTimeAug", transforms=[
        [dict(type="Resize", scale_factor=r, keep_ratio=True) for r in img_ratios],
        [dict(type="RandomFlip", prob=0.0, direction="horizontal"),
         dict(type="RandomFlip", prob=1.0, direction="horizontal")],
        [dict(type="LoadAnnotations")],
        [dict(type="PackSegInputs")],
    ]),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(type=dataset_type, data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(type=dataset_type, data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type="IoUMetric", iou_metrics=["mIoU"])
test_evaluator = val_evaluator
env_cfg = dict(cudnn_benchmark=False)
