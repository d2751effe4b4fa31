"""Quick frozen dense probe for tests and the demo: the mae_vit_tiny_patch16 encoder (192-d, 12 blocks, pretrained
at 64 px) frozen, a BatchNorm + 1x1 conv head on its last block, 64 px crops of the 96 px synthetic ADE20K-layout
scenes, AdamW 1e-3, 30 iterations at batch 4 (2 warmup), fp32, test at the end (sliding window as configs/ade20k).

Run: tools/transfer.py --task ade20k_linear --ckpt work_dirs/tiny_mae/checkpoint-last.pth --device cpu
Expect: a few % mIoU (the demo's 16-epoch MAE ViT-T gave 4.1 on 120 scenes, 9 classes); ~11 s on 2 CPU cores.
"""
_base_ = ["../ade20k/quick.py"]
custom_imports = dict(imports=["backbones.vit_seg", "backbones.linear_seg", "backbones.synthetic_seg"],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type="FrozenMAEViTSeg", img_size=(64, 64), pretrain_img_size=64,
                  patch_size=16, embed_dim=192, depth=12, num_heads=3, mlp_ratio=4.0, checkpoint=None),
    neck=None,
    decode_head=dict(_delete_=True, type="LinearBNHead", in_channels=192, channels=192, in_index=-1,
                     dropout_ratio=0.0, num_classes=9, norm_cfg=dict(type="BN", requires_grad=True),
                     align_corners=False, loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False,
                                                           loss_weight=1.0)),
    auxiliary_head=None,
)
optim_wrapper = dict(_delete_=True, type="OptimWrapper",
                     optimizer=dict(type="AdamW", lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-4))
max_iters = 30
warmup_iters = 2
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-6, by_epoch=False, begin=0, end=warmup_iters),
    dict(type="PolyLR", eta_min=0.0, power=1.0, by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=max_iters, val_begin=max_iters + 1)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
