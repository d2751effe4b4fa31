"""UperNet on an MAE-pretrained ViT-L/16, ADE20K 512x512, 160k iterations; everything else as ViT-B.

Run:
    tools/transfer.py --task ade20k --config configs/ade20k/upernet_vit_l.py --ckpt PATH --gpus 8 \
        --data-root /datasets/ADEChallengeData2016
Expected: mIoU 53.6 (MAE paper, Table 5, IN-1K 1600 ep).
Expected time: roughly 60 A100 GPU-hours (8 GPUs, ~7-8 h wall) with fp16 AMP; an estimate, not measured here.

Differences from ViT-B: 24 blocks of width 1024 / 16 heads, features of blocks 8, 12, 16, 24
(out_indices 7, 11, 15, 23), drop path 0.2, and layer decay 0.95. The MAE paper does not state
its ViT-L segmentation decay; 0.95 is the value BEiT-style recipes (BEiT-L on ADE20K) use for
24-block encoders, chosen here (0.65 ** 25 would all but freeze the early blocks). mmsegmentation has
no ViT-L MAE config; the backbone semantics and the weight-decay rule are those of the ViT-B one
(pinned by tests/test_fidelity.py against tests/expected/ade20k_vit_l_groups.json).
"""
_base_ = ["./upernet_vit_b.py"]

embed_dim = 1024
num_layers = 24
model = dict(
    backbone=dict(embed_dim=embed_dim, depth=num_layers, num_heads=16, out_indices=(7, 11, 15, 23),
                  drop_path_rate=0.2),
    neck=dict(embed_dim=embed_dim),
    decode_head=dict(in_channels=[embed_dim] * 4),
    auxiliary_head=dict(in_channels=embed_dim),
)
optim_wrapper = dict(paramwise_cfg=dict(num_layers=num_layers, layer_decay_rate=0.95))
