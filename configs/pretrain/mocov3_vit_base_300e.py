"""MoCo v3 ViT-B/16, the official recipe (facebookresearch/moco-v3 @ c349e6e, CONFIG.md "ViT-Base, 8-node (64-GPU)
pre-training": main_moco.py -a vit_base --optimizer=adamw --lr=1.5e-4 --weight-decay=.1 --epochs=300
--warmup-epochs=40 --stop-grad-conv1 --moco-m-cos --moco-t=.2, batch 4096 = 64 GPUs x 64).

Run: tools/pretrain.sh 64 --config configs/pretrain/mocov3_vit_base_300e.py --data_path /datasets/imagenet
     (64 processes x 64; on fewer GPUs raise --batch_size to 4096 / processes: MoCo v3 never accumulates
     gradients, and a batch that would need accumulation is refused with a message saying how to run it)
Recipe: lr = blr 1.5e-4 x 4096 / 256 = 2.4e-3, half-cycle cosine to 0 after 40 linear warmup epochs; AdamW with
torch's default betas (0.9, 0.999) and weight decay 0.1 on every trained parameter; momentum 0.99 -> 1 (cosine),
temperature 0.2, projector 3 x 4096 -> 256 and predictor 2 x 4096 -> 256 with BatchNorm; the official ViT init and
frozen random patch projection; BYOL augmentations (crop 0.08-1, blur 1.0 / 0.1, solarise 0 / 0.2). The
constants and init live in mae_bench/methods/mocov3.py, pinned by tests/test_baselines.py. Published: ViT-B
linear probe 76.7, fine-tuned 83.2 top-1 (300 epochs, ~94k steps of 4096).
Expect: a checkpoint with the timm encoder keys + projector / predictor / momentum_* keys; the transfer tasks load
the base encoder and report the rest as ignored.
"""
_base_ = ["./mae_vit_base_800e.py"]
method = "mocov3"
input_size = 224
batch_size = 64
effective_batch = 4096
epochs = 300
blr = 1.5e-4
min_lr = 0.0
weight_decay = 0.1
warmup_epochs = 40
moco_dim = 256
moco_mlp_dim = 4096
moco_m = 0.99
moco_t = 0.2
crop_scale = (0.08, 1.0)
output_dir = "work_dirs/mocov3_vit_base_300e"
