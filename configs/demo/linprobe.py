"""The demo's linear probe: the frozen micro ViT at 32 px, average-pooled patch tokens, BatchNorm + linear head,
AdamW lr 1e-2 (configs/linprobe/quick.py, see its docstring for why not LARS at this scale), 40 epochs of the 384
training scenes at batch 32 (480 steps), evaluated once, after the last epoch, on the 2400 val scenes.

Why 40 epochs: at 12 (144 steps) the probes ended near the chance loss (ln 6 = 1.79), so they compared heads that
had not finished learning rather than features; the training loss of each run is in its log.jsonl.

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
epochs = 40
eval_every = 40  # once, after the last epoch: the record's top-1 is the last epoch's (no pick of the best on val)
batch_size = 32
global_pool = True
