"""The demo's pretraining budget: the micro ViT (mae_bench MODEL_SIZES["vit-micro"]: 128-d, 6 blocks, 4 heads, patch 8)
at 32 px on the synthetic pretraining pool (``tools/make_synthetic.py --pool``, 2400 scenes), one thread on a CPU.

Run everything: make demo; one method alone:
    tools/pretrain.py --config configs/demo/mae.py --data_path results/demo/work/data/imagefolder/pool
MAE, supervised and MoCo v3 share this file, so they see the same images, epochs, batch size and lr: 20 epochs of
2400 scenes at batch 64 (750 optimizer steps).
Why patch 8 (16 tokens): the demo's budget on one core buys 750 steps, after which the supervised loss is ~1.4 and
MAE and supervised inits both beat random by more than the seed spread; patch 4 costs 4x more per step.
"""
model = "mae_vit_micro_patch8"
input_size = 32
batch_size = 64
effective_batch = None
epochs = 20
warmup_epochs = 2
accum_iter = 1
lr = 1.5e-3
weight_decay = 0.05
num_workers = 0
device = "cpu"
seed = 0
save_every = 0
vis_every = 5
tensorboard = False
