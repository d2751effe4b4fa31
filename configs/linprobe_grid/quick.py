"""Quick linear-head grid for tests and the demo: mae_vit_tiny_patch16 geometry (192-d, 12 blocks) at 64 px,
3 epochs of one pass over the 102 synthetic training images (batch 32), 5 learning rates x 5 inputs = 25 heads.

Run: tools/transfer.py --task linprobe_grid --ckpt work_dirs/pretrain_quick/checkpoint-last.pth --device cpu
Expect: no accuracy target (6 synthetic classes, chance ~17%); a record with every head's top-1; seconds on a CPU.
"""
_base_ = ["./vit_b.py"]
model = "vit-t"
input_size = 64
batch_size = 32
eval_batch_size = 64
epochs = 3
iters_per_epoch = None
learning_rates = [1e-3, 1e-2, 0.1, 1.0, 10.0]
num_workers = 0
synthetic_num = 128
