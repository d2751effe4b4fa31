"""The MAE paper's ablations (He et al. 2021, arXiv 2111.06377): Table 1 (a)-(f), Figure 5 (mask ratio) and Figure 7
(pretraining epochs), ViT-L/16 on ImageNet-1K, 800-epoch pretraining, each variant fine-tuned and linearly probed.

    tools/sweep.py --config configs/sweeps/mae_table1.py --dry-run          # the plan and its GPU-hours
    tools/sweep.py --config configs/sweeps/mae_table1.py --out /checkpoint/$USER/mae_table1   # on Slurm
    tools/make_tables.py --runs /checkpoint/$USER/mae_table1/runs --out results/ablations_table1
The default point (the paper's gray rows: decoder 8 x 512, no mask token in the encoder, unnormalised pixels,
random-size crop, random 75% masking) is one pretraining shared by every axis. Table 1's default target is pixels
without normalisation (its gray row), so this sweep turns off the recipe's norm_pix_loss. The paper gives no seed
count: one transfer seed per point (raise ``seeds`` to see the noise). Figure 7 is read from the checkpoints of one
1600-epoch run (mid-schedule checkpoints: the paper's points are separate runs of each length; docs/fidelity.md).
docs/ablations.md.
"""
name = "mae_table1"
pretrain_config = "configs/pretrain/mae_vit_large_800e.py"
pretrain = dict(norm_pix_loss=False, data_path="/datasets/imagenet")
axes = dict(
    decoder_depth=[1, 2, 4, 8, 12],  # Table 1(a)
    decoder_embed_dim=[128, 256, 512, 768, 1024],  # Table 1(b)
    mask_token={"encoder w/ [M]": dict(encoder_mask_token=True), "encoder w/o [M]": dict()},  # Table 1(c)
    target={"pixel (w/o norm)": dict(), "pixel (w/ norm)": dict(norm_pix_loss=True),  # Table 1(d)
            "PCA": dict(target="pca"), "dVAE token": dict(target="dvae")},
    aug={"none": dict(aug="none"), "crop, fixed size": dict(aug="crop_fixed"),  # Table 1(e)
         "crop, rand size": dict(), "crop + color jit": dict(aug="crop_color")},
    mask_sampling={"random 75": dict(), "block 50": dict(mask_sampling="block", mask_ratio=0.5),  # Table 1(f)
                   "block 75": dict(mask_sampling="block"), "grid 75": dict(mask_sampling="grid")},
    mask_ratio=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9],  # Figure 5
)
along_run = dict(axis="epochs", values=[100, 200, 400, 800, 1600])  # Figure 7
protocols = dict(
    finetune=dict(task="finetune", config="configs/finetune/vit_l.py", model="vit-l", epochs=50),
    linprobe=dict(task="linprobe", config="configs/linprobe/vit_l.py", model="vit-l", epochs=90),
)
seeds = [0]
data = dict(pretrain="/datasets/imagenet", transfer="/datasets/imagenet")
resources = dict(  # submitit parameters (Slurm: one task per GPU; the pretrainer requeues on SIGUSR1 / timeout)
    pretrain=dict(nodes=4, gpus_per_node=8, tasks_per_node=8, cpus_per_task=10, timeout_min=72 * 60),
    transfer=dict(nodes=1, gpus_per_node=8, tasks_per_node=8, cpus_per_task=10, timeout_min=24 * 60),
)
estimate = dict(train_images=1281167, val_images=50000, achieved_tflops=320)
