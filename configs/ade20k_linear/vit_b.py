"""ADE20K frozen dense probe: linear (BatchNorm + 1x1 conv) head on the last block of a frozen ViT-B/16.

Run: tools/transfer.py --task ade20k_linear --ckpt PATH --gpus 8 --data-root /datasets/ADEChallengeData2016 \
         --config configs/ade20k_linear/vit_b.py
Reference: dinov2's ADE20K linear evaluation (facebookresearch/dinov2 README "linear" segmentation configs,
``dinov2/eval/segmentation/models/decode_heads/linear_head.py`` BNHead, commit 7c503b3): frozen backbone,
normed last-block patch features, SyncBN + 1x1 conv, dropout 0, AdamW lr 1e-3 wd 1e-4, 40k iterations at
batch 16 (8 GPUs x 2), 1500 linear warmup iterations then poly; 512x512 crops; mmseg's ADE20K pipeline and
IoUMetric, sliding-window test (crop 512, stride 341) as in configs/ade20k. Patch 16 at 512 px: a 32x32 map.
Expect: far below UperNet fine-tuning (48.1 mIoU for MAE ViT-B); MAE's frozen patch features are weak without
fine-tuning (no published MAE number with this exact head; dinov2 ViT-B/14 reaches 47.3 with it).
About 1.5 h on 8 GPUs (the backbone forward only, no backward through it).
"""
_base_ = ["../ade20k/upernet_vit_b.py"]
custom_imports = dict(imports=["backbones.vit_seg", "backbones.linear_seg"], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type="FrozenMAEViTSeg", img_size=(512, 512), pretrain_img_size=224,
                  patch_size=16, embed_dim=768, depth=12, num_heads=12, mlp_ratio=4.0, checkpoint=None),
    neck=None,
    decode_head=dict(_delete_=True, type="LinearBNHead", in_channels=768, channels=768, in_index=-1,
                     dropout_ratio=0.0, num_classes=150, norm_cfg=dict(type="SyncBN", requires_grad=True),
                     align_corners=False, loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False,
                                                           loss_weight=1.0)),
    auxiliary_head=None,
)
optim_wrapper = dict(_delete_=True, type="AmpOptimWrapper",
                     optimizer=dict(type="AdamW", lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-4))
max_iters = 40000
warmup_iters = 1500
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-6, by_epoch=False, begin=0, end=warmup_iters),
    dict(type="PolyLR", eta_min=0.0, power=1.0, by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=4000)
