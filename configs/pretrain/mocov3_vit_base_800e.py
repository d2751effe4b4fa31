"""MoCo v3 ViT-B/16 at the budget of mae_vit_base_800e: the official recipe (mocov3_vit_base_300e.py) for 800
epochs on the same data and effective batch (4096) as MAE.

Run: tools/pretrain.sh 64 --config configs/pretrain/mocov3_vit_base_800e.py --data_path /datasets/imagenet
     (MoCo v3 never accumulates: on 8 GPUs pass --batch_size 512, or train at 8 x 64 = 512 per step with
     --effective_batch 512, which scales the lr to 1.5e-4 x 512 / 256 as main_moco.py does)
Expect: a checkpoint with the timm encoder keys + projector / predictor / momentum_* keys.
"""
_base_ = ["./mocov3_vit_base_300e.py"]
epochs = 800
output_dir = "work_dirs/mocov3_vit_base_800e"
