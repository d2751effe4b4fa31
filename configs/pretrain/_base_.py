"""MAE pretraining recipe on ImageNet-1K, 224 px (He et al. 2021; official PRETRAIN.md and main_pretrain.py,
facebookresearch/mae @ efb2a80).

Not run directly: the model configs below inherit it. Effective batch 4096 = batch_size x accum_iter x
processes; the pretrainer derives accum_iter from the number of processes (64 per GPU: 64 GPUs -> 1,
8 GPUs -> 8, 1 GPU -> 64) and refuses, naming the flags, a batch that cannot reach 4096 exactly.
lr = blr x 4096 / 256 = 2.4e-3. AdamW (0.9, 0.95), wd 0.05, 40 warmup epochs, half-cycle cosine,
RandomResizedCrop(0.2-1, bicubic) + flip, norm_pix_loss as in the released checkpoints.
"""
method = "mae"
input_size = 224
mask_ratio = 0.75
norm_pix_loss = True
batch_size = 64
effective_batch = 4096
blr = 1.5e-4
min_lr = 0.0
weight_decay = 0.05
warmup_epochs = 40
epochs = 800
save_every = 20
vis_every = 20
num_workers = 10
