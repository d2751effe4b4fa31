"""The demo's k-NN: the frozen micro ViT at 32 px, dinov2's weighted vote (T 0.07, k 10/20/100/200) on the cls and
mean-patch features of the labelled transfer set (configs/knn/quick.py at the demo's size).

Run (what `make demo` runs per init): tools/transfer.py --task knn --config configs/demo/knn.py --ckpt PATH|random \
    --data-root results/demo/work/data/imagefolder --device cpu
"""
_base_ = ["../knn/quick.py"]
model = "vit-micro"
input_size = 32
