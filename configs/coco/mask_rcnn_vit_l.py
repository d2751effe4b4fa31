"""Mask R-CNN with a ViTDet ViT-L backbone: the ViT-B recipe with L's width, depth, global blocks, drop path, decay.

Run (8 GPUs x 8 images = batch 64; add --cfg-options model.backbone.with_cp=True if memory is short):
    tools/transfer.py --task coco --config configs/coco/mask_rcnn_vit_l.py \
        --ckpt work_dirs/mae_vit_l/checkpoint-last.pth --data-root /datasets/coco --gpus 8
Expected (MAE IN-1K init): box AP 55.5, mask AP 49.2 (ViTDet paper / detectron2).
GPU time: detectron2 lists 0.603 s per iteration on 64 A100s: ~31 h on 64 A100s, ~2,000 A100-hours.
Reference: detectron2 projects/ViTDet/configs/COCO/mask_rcnn_vitdet_l_100ep.py (@ 02b5c4e): the B recipe with
drop path 0.4, global blocks 5, 11, 17, 23, layer decay 0.8 over 24 blocks; weight decay rule inherited from B
(norms and pos_embed 0, everything else 0.1). Pinned by tests/test_fidelity.py (coco_vit_l_groups.json).
"""
_base_ = ["./mask_rcnn_vit_b.py"]

model = dict(
    backbone=dict(embed_dim=1024, depth=24, num_heads=16, global_blocks=[5, 11, 17, 23], drop_path_rate=0.4),
    neck=dict(in_channels=1024),
)
optim_wrapper = dict(paramwise_cfg=dict(num_layers=24, layer_decay_rate=0.8))
