"""What every pretraining method shares: ``PretrainConfig`` (the official MAE recipe as defaults, with the official
flag names; ``tools/pretrain.py`` fills it from a config file and the command line) and ``Method`` (what a method
adds to the shared loop of ``mae_bench.pretrain``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, ClassVar

import torch

from ..config import above, at_least, fraction
from ..data.imagefolder import PRETRAIN_AUGS
from ..engine.amp import resolve_amp
from ..engine.optim import NO_WEIGHT_DECAY
from ..engine.trainer import Hook, accumulation
from ..errors import ConfigError
from ..models.mae_vit import LOSS_ON, MASK_SAMPLINGS, TARGETS

ABLATION_CHOICES = {"mask_sampling": MASK_SAMPLINGS, "target": TARGETS, "loss_on": LOSS_ON, "aug": PRETRAIN_AUGS}
# the config fields that make an MAE pretraining variant (recorded with each transfer of its checkpoint)
VARIANT_FIELDS = ("mask_ratio", "norm_pix_loss", "decoder_embed_dim", "decoder_depth", "decoder_num_heads",
                  "mask_sampling", "block_min_patches", "encoder_mask_token", "target", "pca_dim", "loss_on", "aug",
                  "epochs")


# Methods whose loss does not split over micro-batches: a contrastive loss takes its negatives, and BatchNorm its
# statistics, from the batch one forward sees. They never accumulate gradients (PretrainConfig.accum refuses).
NO_ACCUMULATION = ("mocov3",)


@dataclass
class PretrainConfig:
    method: str = "mae"
    model: str = "mae_vit_base_patch16"
    input_size: int = 224
    patch_size: int | None = None
    mask_ratio: float = 0.75
    norm_pix_loss: bool = False  # official flag default; the recipe configs turn it on
    decoder_embed_dim: int | None = None
    decoder_depth: int | None = None
    decoder_num_heads: int | None = None
    drop_path: float = 0.0
    # MAE ablation axes (the MAE paper's Table 1; docs/pretraining.md "Ablation flags"); defaults: the official recipe
    mask_sampling: str = "random"  # random | block (BEiT's blocks, topped up to the exact count) | grid (1 per 2x2)
    block_min_patches: int = 16  # --mask_sampling block: smallest block, patches (BEiT: 16)
    encoder_mask_token: bool = False  # Table 1(c) 'encoder w/ [M]': mask tokens in the encoder, not the decoder
    target: str = "pixel"  # pixel (normalised per patch with --norm_pix_loss) | pca | dvae (refused, docs/fidelity.md)
    pca_dim: int = 96  # --target pca: the largest coefficients predicted (the paper: 96)
    pca_fit_images: int = 4096  # --target pca: training crops the basis is fitted on, before the first step
    loss_on: str = "masked"  # masked | all (the paper's footnote: all patches costs ~0.5% fine-tuning accuracy)
    aug: str = "crop_rand"  # Table 1(e): none | crop_fixed | crop_rand | crop_color (data/imagefolder.py PRETRAIN_AUGS)
    # --method mocov3 only (main_moco.py's flags of the ViT recipe: --moco-dim, --moco-mlp-dim, --moco-m, --moco-t)
    moco_dim: int = 256
    moco_mlp_dim: int = 4096
    moco_m: float = 0.99
    moco_t: float = 0.2
    # --method supervised only (defaults = DeiT's recipe; the demo turns them down for its short schedule)
    mixup: float = 0.8
    cutmix: float = 1.0
    smoothing: float = 0.1
    aa: str | None = "rand-m9-mstd0.5-inc1"
    reprob: float = 0.25
    model_ema: bool = False  # keep an EMA of the weights (the MAE paper's from-scratch recipe: 0.9999)
    model_ema_decay: float = 0.9999
    crop_scale: tuple[float, float] | None = None  # RandomResizedCrop area range; None: the method's recipe
    batch_size: int = 64  # per process
    epochs: int = 800
    effective_batch: int | None = None  # the recipe's batch; accum_iter = effective_batch / (batch_size x processes)
    accum_iter: int | None = None  # explicit accumulation (default 1); must agree with effective_batch when both set
    blr: float = 1.5e-4
    lr: float | None = None  # absolute lr; default blr * effective batch / 256
    min_lr: float = 0.0
    weight_decay: float = 0.05
    warmup_epochs: float = 40
    clip_grad: float | None = None
    data_path: str | None = None  # ImageFolder root (train/), flat image folder, or shards 'train-{000000..000127}.tar'
    data_pipeline: str = "fast"  # fast (data/fast.py: uint8 crops, normalised on the device) | official (torchvision)
    gpu_decode: bool = False  # fast pipeline: workers read bytes, JPEGs are decoded, cropped and flipped on the device
    synthetic_num: int = 512
    output_dir: str = "./work_dirs/pretrain"
    log_dir: str | None = None
    resume: str = ""
    device: str = "cuda" if torch.cuda.is_available() else "cpu"
    amp: str = "auto"  # engine/amp.py: auto (bf16 on GPU, fp32 on CPU) | fp32 | bf16 | fp16 (official fp16 + scaler)
    seed: int = 0
    num_workers: int = 4
    pin_mem: bool = True
    save_every: int = 20
    vis_every: int = 20
    skip_corrupt: bool = False
    max_iters_per_epoch: int | None = None
    tensorboard: bool = True
    compile: bool = False  # torch.compile the model (GPU: ViT-B 38% -> 41% MFU on an H200, results/perf)
    monitor_every: int = 0  # k-NN + linear-head grid every N epochs (pretrain/monitor.py); 0: off
    monitor_data: str | None = None  # ImageFolder root (train/ = bank, val/ = queries); default: a held-out slice
    monitor_fraction: float = 0.1  # share of train/ held out of pretraining for the monitors (no --monitor_data)

    # the allowed values of its own fields (mae_bench.config: SHARED_LIMITS hold the common ones, the type comes
    # from the annotation)
    LIMITS: ClassVar[dict] = dict(
        mask_ratio=fraction(lo_open=True, hi_open=True),
        decoder_embed_dim=at_least(1),
        decoder_depth=at_least(1),
        decoder_num_heads=at_least(1),
        vis_every=at_least(0),
        monitor_every=at_least(0),
        monitor_fraction=fraction(lo_open=True, hi_open=True),
        block_min_patches=at_least(1),
        pca_dim=at_least(1),
        pca_fit_images=at_least(1),
        moco_dim=at_least(1),
        moco_mlp_dim=at_least(1),
        moco_m=fraction(),
        moco_t=above(0),
        model_ema_decay=fraction(),
    )

    def __post_init__(self):
        resolve_amp(self.amp, self.device)  # a ValueError naming the known modes
        for name, known in ABLATION_CHOICES.items():
            if getattr(self, name) not in known:
                raise ConfigError(f"--{name} {getattr(self, name)!r}: known {', '.join(known)}")
        if self.aug != "crop_rand" and self.method != "mae":
            raise ConfigError(f"--aug {self.aug} is an MAE ablation; --method {self.method} brings its own transforms")

    def accum(self, world_size: int) -> int:
        """Gradient accumulation steps: ``engine.trainer.accumulation`` (exact or a ValueError); a method of
        ``NO_ACCUMULATION`` that would need more than 1 is refused with a ConfigError saying how to run it."""
        accum = accumulation(self.effective_batch, self.batch_size, world_size, self.accum_iter)
        if accum > 1 and self.method in NO_ACCUMULATION:
            per_step, total = self.batch_size * world_size, self.batch_size * world_size * accum
            raise ConfigError(
                f"--method {self.method} does not accumulate gradients: effective batch {total} at --batch_size "
                f"{self.batch_size} x {world_size} process(es) would need accum_iter {accum}, and its contrastive "
                f"loss and BatchNorm would then see {per_step} samples per forward, not {total} (other negatives "
                f"and statistics than the recipe's). Reach {total} per step (--batch_size {total // world_size} on "
                f"{world_size} process(es), or more processes), or train at the per-step batch with "
                f"--effective_batch {per_step} (lr = blr x {per_step} / 256, main_moco.py's rule; the checkpoint "
                f"records effective_batch {per_step})")
        return accum

    def total_batch(self, world_size: int) -> int:
        """Images per optimiser step: batch_size x accum_iter x processes."""
        return self.batch_size * self.accum(world_size) * world_size

    def absolute_lr(self, world_size: int) -> float:
        return self.lr if self.lr is not None else self.blr * self.total_batch(world_size) / 256


@dataclass
class Method:
    """What a pretraining method adds to the shared loop."""
    model: torch.nn.Module
    step: Callable
    hooks: list[Hook] = dataclasses.field(default_factory=list)
    transform: Callable | None = None  # dataset transform; default: the MAE pretraining one
    no_decay_names: tuple[str, ...] = NO_WEIGHT_DECAY  # besides 1-D tensors and biases (engine.optim.param_groups)
    betas: tuple[float, float] = (0.9, 0.95)  # AdamW's (main_pretrain.py's); MoCo v3 keeps torch's (0.9, 0.999)
    decay_all: bool = False  # weight decay on every trained parameter (MoCo v3), no_decay_names ignored


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device
