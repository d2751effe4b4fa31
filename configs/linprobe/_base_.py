"""ImageNet-1K linear probing recipe common to all sizes (official MAE LINPROBE; docs/references.md).

Not run directly: vit_b.py / vit_l.py / vit_h.py inherit it. The encoder is frozen (eval mode, no
gradients); the head is BatchNorm1d(affine=False, eps 1e-6) + Linear (trunc_normal 0.01) on the cls
token after the final norm. LARS (momentum 0.9, trust coefficient 0.001, no trust scaling on 1-D
parameters), wd 0, base lr 0.1, lr = blr x 16384 / 256, effective batch 16384 (512 x 8 GPUs x
accumulation 4, computed from effective_batch), 90 epochs, 10 warmup, cosine to 0.
Training crop: the official TF-style RandomResizedCrop (util/crop.py @ efb2a80 of facebookresearch/mae: one
draw clamped to the image, no retries; bicubic) + flip only; eval resize 256 + centre crop 224 (main_linprobe.py).
"""
input_size = 224
global_pool = False
head_type = "bn_linear"
head_init_std = 0.01
tune_blocks = 0
train_norm = False
drop_path = 0.0
optimizer = "lars"
batch_size = 512
effective_batch = 16384
blr = 0.1
min_lr = 0.0
weight_decay = 0.0
layer_decay = None
warmup_epochs = 10
epochs = 90
augment = "tf_rrc"
reprob = 0.0
mixup = 0.0
cutmix = 0.0
smoothing = 0.0
num_workers = 10
