"""MoCo v3 ViT-B/16 at the budget of mae_vit_base_800e: same data, epochs, effective batch (4096).

Run: tools/pretrain.sh 8 --config configs/pretrain/mocov3_vit_base_800e.py --data_path /datasets/imagenet
Recipe (Chen, Xie, He 2021): blr 1.5e-4, wd 0.1, 40 warmup epochs, temperature 0.2, momentum 0.99 -> 1
(cosine), 3-layer projector / 2-layer predictor with 4096 hidden and 256 output, frozen random patch
projection, BYOL augmentations (constants in mae_bench/methods/mocov3.py). Published: ViT-B fine-tuned
83.2 top-1 after 300 epochs (pass --epochs 300 for that recipe).
Expect: a checkpoint with the timm encoder keys + projector / predictor / momentum_* keys; the transfer
tasks load the base encoder and report the rest as ignored.
"""
_base_ = ["./mae_vit_base_800e.py"]
method = "mocov3"
blr = 1.5e-4
weight_decay = 0.1
warmup_epochs = 40
output_dir = "work_dirs/mocov3_vit_base_800e"
