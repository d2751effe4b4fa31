"""Quick k-NN for tests and the demo: the mae_vit_tiny_patch16 encoder geometry (192-d, 12 blocks) at 64 px.

Run: tools/transfer.py --task knn --ckpt work_dirs/pretrain_quick/checkpoint-last.pth --device cpu
Expect: no accuracy target on the synthetic scenes (6 classes, chance ~17%); seconds on a CPU.
"""
_base_ = ["./vit_b.py"]
model = "vit-t"
input_size = 64
eval_batch_size = 64
num_workers = 0
synthetic_num = 128
