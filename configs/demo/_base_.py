"""The demo's pretraining budget: a tiny ViT (mae_vit_tiny_patch16 encoder, 64 px) on the synthetic scenes.

Run everything: make demo   (or make demo QUICK=1); one method alone:
    tools/pretrain.py --config configs/demo/mae.py --data_path results/demo/work/data/imagefolder
MAE, supervised and MoCo v3 share this file, so they see the same images, epochs and batch size.
"""
model = "mae_vit_tiny_patch16"
input_size = 64
batch_size = 32
epochs = 30
warmup_epochs = 2
accum_iter = 1
weight_decay = 0.05
num_workers = 0
device = "cpu"
seed = 0
save_every = 0
vis_every = 10
tensorboard = False
