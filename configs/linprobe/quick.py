"""Quick linear probe for tests and the demo: the mae_vit_tiny_patch16 encoder geometry (192-d, 12 blocks,
3 heads, patch 16) at 64 px, frozen, with the official head (BatchNorm without affine + linear), AdamW.

Run: tools/transfer.py --task linprobe --ckpt work_dirs/pretrain_quick/checkpoint-last.pth --device cpu
Expect: >= 90% top-1 on its own 24 training images even from a random frozen encoder (val = train;
tests/test_learning.py; measured 100%, ~25 s on one CPU thread); every encoder weight unchanged.

What differs from the full recipe (configs/linprobe/_base_.py, official MAE LINPROBE): AdamW at lr 1e-2 (no weight
decay, as the recipe) instead of LARS at blr 0.1 x batch / 256: the linear rule at batch 8 gives an lr ~2000x below
the recipe's 6.4 at batch 16384, and LARS then barely moves the head; the crop keeps scale 0.35-1
(mae_bench.data.CROP_SCALE) so the label survives it; 1 warmup epoch of 30.
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
