"""Quick linear probe for tests and the demo: the mae_vit_tiny_patch16 encoder geometry (192-d, 12 blocks,
3 heads, patch 16) at 64 px, frozen, with the official head (BatchNorm without affine + linear), AdamW.

Run: tools/transfer.py --task linprobe --ckpt work_dirs/pretrain_quick/checkpoint-last.pth --device cpu
Expect: >= 90% top-1 on its own 24 training images even from a random frozen encoder (val = train;
tests/test_learning.py; measured 100%, ~25 s on one CPU thread); every encoder weight unchanged.

What differs from the full recipe (configs/linprobe/_base_.py, official MAE LINPROBE) and why: the recipe's
lr = blr 0.1 x 16384 / 256 = 6.4 comes from its batch of 16384; the linear rule at batch 16 would give 0.006,
~1000x less, and LARS (whose step is lr x 0.001 x |w| / |g|) then barely moves the head (issue 10: chance after
6 epochs). Even at the official absolute lr 6.4 (or 25) LARS took 30 epochs to reach 71% (75%) on 24 images of a
random encoder, where AdamW at lr 1e-2 (no weight decay, as the recipe) reached 96% in 12: the quick probe uses
AdamW. The crop keeps scale 0.35-1 (mae_bench.data.CROP_SCALE) so the label survives it; 1 warmup epoch of 30.
"""
_base_ = ["./_base_.py"]
model = "vit-t"
input_size = 64
epochs = 30
warmup_epochs = 1
batch_size = 8
effective_batch = None
optimizer = "adamw"
lr = 1e-2
crop_scale = (0.35, 1.0)  # mae_bench.data.CROP_SCALE: the dominant object stays the largest (tests/test_synthetic.py)
synthetic_num = 128
num_workers = 0
