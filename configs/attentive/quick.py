"""Quick attentive probe for tests and the demo: mae_vit_tiny_patch16 geometry at 64 px, one query, 4 epochs
of one pass over the synthetic training images (batch 32), LARS lr 0.1 x 32 / 256, 1 warmup epoch.

Run: tools/transfer.py --task attentive --ckpt work_dirs/pretrain_quick/checkpoint-last.pth --device cpu
Expect: no accuracy target (6 synthetic classes, chance ~17%); seconds on a CPU.
"""
_base_ = ["./vit_b.py"]
model = "vit-t"
input_size = 64
batch_size = 32
eval_batch_size = 64
epochs = 4
warmup_epochs = 1
num_queries = 1
num_workers = 0
synthetic_num = 128
