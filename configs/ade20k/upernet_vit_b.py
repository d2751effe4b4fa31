"""UperNet on an MAE-pretrained ViT-B/16, ADE20K 512x512, 160k iterations (the MAE paper's recipe).

Run (8 GPUs x 2 images = batch 16):
    tools/transfer.py --task ade20k --config configs/ade20k/upernet_vit_b.py --ckpt PATH/checkpoint-last.pth \
        --gpus 8 --data-root /datasets/ADEChallengeData2016 [--ms-flip]
Expected: mIoU 48.1 (MAE paper, IN-1K 1600 ep), 48.13 single scale / 48.70 multi-scale + flip
(mmsegmentation configs/mae); see results/reference/ade20k.csv.
Expected time: roughly 20 A100 GPU-hours (8 GPUs, ~2.5 h wall) with fp16 AMP; an estimate, not measured here.

Reference: mmsegmentation configs/mae/upernet_mae-base_fp16_8x2_512x512_160k_ade20k.py (@ e9e8333, the run
behind 48.13) = mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py (@ e663aca); backbone mmseg/models/backbones/
mae.py (@ 3f8d34e), optimizer groups mmseg/engine/optimizers/layer_decay_optimizer_constructor.py (@ 4b76f27).
Recipe (docs/references.md "ADE20K"): features of blocks 4, 6, 8, 12 with zero-initialised relative
position bias, layer scale initialised to 1.0 (mmseg ``init_values=1.0``), the position table resampled
once at load from 14x14 to 32x32 (plain bicubic) and learned at 32x32, Feature2Pyramid neck (x4, x2, x1,
x0.5), UperNet head 768 channels + FCN auxiliary head on the third level; AdamW lr 1e-4, wd 0.05, betas
(0.9, 0.999), layer decay 0.65 (lr x 0.65 ** (13 - layer)), 1500 linear warmup iterations then poly (power 1);
sliding-window test 512 / stride 341. Weight decay as mmseg's constructor: 0 for 1-D parameters and biases,
0.05 for everything else, ``pos_embed``, ``cls_token`` and the relative position tables included.
Pinned by tests/test_fidelity.py against tests/expected/ade20k_vit_b_groups.json.
Config keys a run reads: model.backbone.checkpoint (set from --ckpt), train/val/test_dataloader
.dataset.data_root (from --data-root), work_dir, launcher, randomness.
"""
_base_ = [
    "mmseg::_base_/models/upernet_mae.py",
    "mmseg::_base_/datasets/ade20k.py",
    "mmseg::_base_/default_runtime.py",
    "mmseg::_base_/schedules/schedule_160k.py",
]
custom_imports = dict(imports=["backbones.vit_seg", "backbones.layer_decay", "backbones.torchvision_ops"],
                      allow_failed_imports=False)

crop_size = (512, 512)
embed_dim = 768
num_layers = 12
num_classes = 150
norm_cfg = dict(type="SyncBN", requires_grad=True)
data_preprocessor = dict(type="SegDataPreProcessor", mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                         bgr_to_rgb=True, pad_val=0, seg_pad_val=255, size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type="MAEViTSeg",
        img_size=crop_size,
        pretrain_img_size=224,
        patch_size=16,
        embed_dim=embed_dim,
        depth=num_layers,
        num_heads=12,
        mlp_ratio=4.0,
        out_indices=(3, 5, 7, 11),
        drop_path_rate=0.1,
        use_rel_pos_bias=True,
        init_values=1.0,
        checkpoint=None,
    ),
    neck=dict(type="Feature2Pyramid", embed_dim=embed_dim, rescales=[4, 2, 1, 0.5], norm_cfg=norm_cfg),
    decode_head=dict(in_channels=[embed_dim] * 4, channels=768, num_classes=num_classes, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=embed_dim, in_index=2, num_classes=num_classes, norm_cfg=norm_cfg),
    test_cfg=dict(mode="slide", crop_size=crop_size, stride=(341, 341)),
)

optim_wrapper = dict(
    _delete_=True,
    type="AmpOptimWrapper",
    optimizer=dict(type="AdamW", lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor="LayerDecayOptimWrapperConstructor",
    paramwise_cfg=dict(num_layers=num_layers, layer_decay_rate=0.65, wd_rule="mmseg"),
)
max_iters = 160000
warmup_iters = 1500
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-6, by_epoch=False, begin=0, end=warmup_iters),
    dict(type="PolyLR", eta_min=0.0, power=1.0, by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=16000)

# 8 GPUs x 2 images = batch 16
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
val_evaluator = dict(type="IoUMetric", iou_metrics=["mIoU"])
test_evaluator = val_evaluator
