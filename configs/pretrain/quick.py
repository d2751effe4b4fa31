"""Tiny MAE for tests and CI: a few seconds per epoch on 2 CPU cores.

Run: tools/pretrain.sh 2 --device cpu --config configs/pretrain/quick.py
Expect: the loss falls; a checkpoint-last.pth any quick transfer config accepts.
"""
_base_ = ["./_base_.py"]
model = "mae_vit_tiny_patch16"
input_size = 64
decoder_embed_dim = 128
decoder_depth = 2
decoder_num_heads = 4
batch_size = 16
effective_batch = None  # no accumulation: batch_size x processes
epochs = 2
warmup_epochs = 1
synthetic_num = 128
num_workers = 0
save_every = 1
vis_every = 1
device = "cpu"
output_dir = "work_dirs/pretrain_quick"
