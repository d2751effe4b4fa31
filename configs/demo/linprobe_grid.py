"""The demo's linear-head grid: the frozen micro ViT at 32 px, one forward per batch feeding 5 learning rates x 5
inputs (configs/linprobe_grid/quick.py at the demo's size), 10 epochs of the labelled transfer set.

Run (what `make demo` runs per init): tools/transfer.py --task linprobe_grid --config configs/demo/linprobe_grid.py \
    --ckpt PATH|random --data-root results/demo/work/data/imagefolder --device cpu
"""
_base_ = ["../linprobe_grid/quick.py"]
model = "vit-micro"
input_size = 32
epochs = 10
