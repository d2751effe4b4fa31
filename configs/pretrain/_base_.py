"""MAE pretraining recipe on ImageNet-1K, 224 px (He et al. 2021; official PRETRAIN.md).

Not run directly: the model configs below inherit it. Effective batch 4096 = batch_size x
accum_iter x processes (64 x 8 GPUs x 8 nodes, or 64 x 8 x 1 with accum_iter 8);
lr = blr x 4096 / 256. AdamW (0.9, 0.95), wd 0.05, 40 warmup epochs, half-cycle cosine,
RandomResizedCrop(0.2-1, bicubic) + flip, norm_pix_loss as in the released checkpoints.
"""
method = "mae"
input_size = 224
mask_ratio = 0.75
norm_pix_loss = True
batch_size = 64
accum_iter = 1
blr = 1.5e-4
min_lr = 0.0
weight_decay = 0.05
warmup_epochs = 40
epochs = 800
save_every = 20
vis_every = 20
num_workers = 10
