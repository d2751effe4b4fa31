"""ImageNet-1K fine-tuning recipe common to all sizes (official MAE FINETUNE.md; docs/references.md).

Not run directly: vit_b.py / vit_l.py / vit_h.py inherit it and set epochs, base lr, layer decay
and drop path. Effective batch 1024 = batch_size x accum_iter x processes (32 x 4 x 8 GPUs, or
accumulation computed automatically from effective_batch); lr = blr x 1024 / 256. AdamW, wd 0.05
(none on norms, biases, pos/cls), 5 warmup epochs then cosine to 1e-6, layer-wise lr decay
decay^(num_layers + 1 - layer_id). RandAug rand-m9-mstd0.5-inc1, random erasing 0.25, mixup 0.8,
cutmix 1.0, label smoothing 0.1, bicubic; eval as the official util/datasets.py (facebookresearch/mae
@ efb2a80): resize int(input_size / crop_pct) + centre crop, crop_pct 224/256 up to 224 px (256 -> 224) and 1.0
above (448 -> 448). A checkpoint's position table is resampled to the input grid at load, plain bicubic as
the official interpolate_pos_embed. Global average pooling + fc_norm, head trunc_normal(2e-5).
"""
input_size = 224
global_pool = True
head_type = "linear"
head_init_std = 2e-5
optimizer = "adamw"
batch_size = 32
effective_batch = 1024
min_lr = 1e-6
weight_decay = 0.05
warmup_epochs = 5
augment = "randaug"
aa = "rand-m9-mstd0.5-inc1"
reprob = 0.25
remode = "pixel"
recount = 1
mixup = 0.8
cutmix = 1.0
smoothing = 0.1
num_workers = 10
