"""The demo's fine-tuning: the micro ViT at 32 px on the small labelled transfer set (the quick recipe of
configs/finetune/quick.py, see its docstring for what differs from the official recipe and why), 12 epochs,
batch 32, lr 2e-3, layer decay 0.75 over the 6 blocks, evaluated once, after the last epoch, on the 2400 val
scenes (12 evaluations of them would cost more than the training).

Run (what `make demo` runs per init and seed):
    tools/transfer.py --task finetune --config configs/demo/finetune.py --ckpt PATH|random \
        --data-root results/demo/work/data/imagefolder --device cpu
"""
_base_ = ["../finetune/quick.py"]
model = "vit-micro"
input_size = 32
epochs = 12
warmup_epochs = 2
batch_size = 32
lr = 2e-3
eval_every = 12  # once, after the last epoch
