"""Quick linear probe for tests and the demo: the mae_vit_tiny_patch16 encoder geometry (192-d,
12 blocks, 3 heads, patch 16) at 64 px, 2 epochs of 3 iterations with LARS.

Run: tools/transfer.py --task linprobe --ckpt work_dirs/pretrain_quick/checkpoint-last.pth --device cpu
Expect: no accuracy target (6 synthetic classes, chance ~17%); a record with top1/top5 and every
encoder weight unchanged. Seconds on a CPU.
"""
_base_ = ["./_base_.py"]
model = "vit-t"
input_size = 64
epochs = 2
warmup_epochs = 1
batch_size = 8
effective_batch = None
max_iters_per_epoch = 3
synthetic_num = 128
num_workers = 0
crop_scale = (0.35, 1.0)  # mae_bench.data.CROP_SCALE: the dominant object stays the largest (tests/test_synthetic.py)
