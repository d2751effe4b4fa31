"""The demo's linear probe: the frozen micro ViT at 32 px, average-pooled patch tokens, BatchNorm + linear head,
AdamW lr 1e-2 (configs/linprobe/quick.py, see its docstring for why not LARS at this scale), 12 epochs, batch 32.

What differs from configs/linprobe/quick.py and why: the probe reads the mean of the patch tokens (the official
main_linprobe.py's --global_pool) instead of the cls token: MAE's loss never reaches its cls token, and at this
budget a probe on it scores like random init.

Run (what `make demo` runs per init and seed):
    tools/transfer.py --task linprobe --config configs/demo/linprobe.py --ckpt PATH|random \
        --data-root results/demo/work/data/imagefolder --device cpu
"""
_base_ = ["../linprobe/quick.py"]
model = "vit-micro"
input_size = 32
epochs = 12
batch_size = 32
global_pool = True
