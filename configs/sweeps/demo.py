"""The CPU mini-ablation (results/ablations_demo/): the demo's micro ViT (configs/demo/mae.py: 32 px, patch 8, so 16
patches; decoder 128 x 2; norm_pix_loss; 20 epochs of the 2400-scene synthetic pool) with three of the paper's axes:
the mask ratio (Figure 5, 4 values), the mask token in the encoder (Table 1(c)) and the mask sampling (Table 1(f));
each variant (value labels as in the paper's tables) fine-tuned and linearly probed over 3 seeds
(configs/demo/finetune.py, linprobe.py) plus k-NN (1 seed).

    tools/sweep.py --config configs/sweeps/demo.py --cluster local --out /tmp/ablations_demo
    tools/make_tables.py --runs /tmp/ablations_demo/runs --out results/ablations_demo/tables
Block masking on a 4 x 4 patch grid cannot hold BEiT's 16-patch blocks (a block must be smaller than the grid):
here the smallest block is 4 patches (2 x 2). 7 pretraining runs (the default shared), 49 transfers, every job one
thread, two at a time.
"""
name = "ablations_demo"
pretrain_config = "configs/demo/mae.py"
pretrain = dict(epochs=20, num_workers=0)
axes = dict(
    mask_ratio=[0.25, 0.5, 0.75, 0.875],
    mask_token={"encoder w/ [M]": dict(encoder_mask_token=True), "encoder w/o [M]": dict()},
    mask_sampling={"random 75": dict(), "block 75": dict(mask_sampling="block", block_min_patches=4),
                   "grid 75": dict(mask_sampling="grid")},
)
protocols = dict(
    finetune=dict(task="finetune", config="configs/demo/finetune.py", device="cpu"),
    linprobe=dict(task="linprobe", config="configs/demo/linprobe.py", device="cpu"),
    knn=dict(task="knn", config="configs/demo/knn.py", device="cpu", seeds=[0]),
)
seeds = [0, 1, 2]
data = dict(synthetic=dict(num=480, size=32, pool=2400, seed=0))
estimate = dict(train_images=2400, val_images=96, achieved_tflops=320)
threads_per_job = 1
max_parallel = 2
