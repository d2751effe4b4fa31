"""The demo's linear probe: the frozen micro ViT at 32 px, average-pooled patch tokens, BatchNorm + linear head,
AdamW lr 1e-2 (configs/linprobe/quick.py, see its docstring for why not LARS at this scale), 40 epochs of the 384
training scenes at batch 32 (480 steps), evaluated once, after the last epoch, on the 2400 val scenes.

Is it converged? Measured on the demo's MAE encoder (seed 0): the training loss ends at 1.46 after 40 epochs (1.56
after 12; chance ln 6 = 1.79), and the val top-1, 28.9 (28.5 after 12), equals within a point that of a logistic
regression trained to convergence by L-BFGS on the same frozen features without augmentation (28.1 at L2 1e-2,
27.6 at 1e-3; random init: 21.4 here, 19.5-20.1 there). So the probe has converged; its loss stays near chance
because the micro ViT's features at this budget separate the shapes only weakly, not because it stops early. (With
1152 training scenes instead of 384, the converged regression gains ~3 points for MAE and random init alike.)

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
