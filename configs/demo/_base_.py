"""The demo's pretraining budget: the micro ViT (mae_bench VARIANTS["micro"]: 128-d, 6 blocks, 4 heads, patch 4)
at 32 px on the synthetic pretraining pool (``tools/make_synthetic.py --pool``), one thread on a CPU.

Run everything: make demo; one method alone:
    tools/pretrain.py --config configs/demo/mae.py --data_path results/demo/work/data/imagefolder/pool
MAE, supervised and MoCo v3 share this file, so they see the same images, epochs, batch size and lr.
Why this size: on 2 CPU cores the whole demo (3 pretrainings, 4 inits x 4 tasks x seeds, cheap signals) must fit
in 20 minutes; a ViT-T/16 at 64 px sees only a 4x4 token grid, and a ViT-T at 32 px / patch 4 costs 4.4x the
micro ViT per image (measured: 31 vs ~135 training images/s on one core).
"""
model = "mae_vit_micro_patch4"
input_size = 32
batch_size = 64
effective_batch = None
epochs = 10
warmup_epochs = 1
accum_iter = 1
lr = 1.5e-3
weight_decay = 0.05
num_workers = 0
device = "cpu"
seed = 0
save_every = 0
vis_every = 5
tensorboard = False
