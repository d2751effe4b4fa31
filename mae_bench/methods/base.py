"""What every pretraining method shares: ``PretrainConfig`` (the official MAE recipe as defaults, with the official
flag names; ``tools/pretrain.py`` fills it from a config file and the command line) and ``Method`` (what a method
adds to the shared loop of ``mae_bench.pretrain``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import torch

from ..engine.trainer import Hook


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
    # --method supervised only (defaults = DeiT's recipe; the demo turns them down for its short schedule)
    mixup: float = 0.8
    cutmix: float = 1.0
    smoothing: float = 0.1
    aa: str | None = "rand-m9-mstd0.5-inc1"
    reprob: float = 0.25
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
    data_path: str | None = None
    synthetic_num: int = 512
    output_dir: str = "./work_dirs/pretrain"
    log_dir: str | None = None
    resume: str = ""
    device: str = "cuda" if torch.cuda.is_available() else "cpu"
    dtype: str = "auto"  # auto = bf16 on GPU, fp32 on CPU
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

    def accum(self, world_size: int) -> int:
        """Gradient accumulation steps; with ``effective_batch`` set, derived from it and exact or a ValueError.

        The official MAE computes eff_batch_size = batch_size x accum_iter x world_size (main_pretrain.py @ efb2a80);
        here the recipe states the effective batch and the number of processes fixes ``accum_iter``.
        """
        if self.effective_batch is None:
            return self.accum_iter or 1
        per_step = self.batch_size * world_size
        if self.effective_batch % per_step:
            fit = _divisor_batch(self.effective_batch, world_size)
            hint = f"e.g. --batch_size {fit}" if fit else "no --batch_size <= 64 does: change the number of processes"
            raise ValueError(
                f"effective batch {self.effective_batch} cannot be reached exactly with --batch_size {self.batch_size} "
                f"x {world_size} process(es) = {per_step} per step: pick --batch_size so that batch_size x processes "
                f"divides {self.effective_batch} ({hint}), or pass --effective_batch (a multiple of {per_step}; "
                f"lr = blr x effective batch / 256)")
        accum = self.effective_batch // per_step
        if self.accum_iter is not None and self.accum_iter != accum:
            raise ValueError(f"--accum_iter {self.accum_iter} disagrees with --effective_batch {self.effective_batch}"
                             f" at --batch_size {self.batch_size} x {world_size} process(es) (needs {accum}); "
                             f"pass only one of --accum_iter and --effective_batch")
        return accum

    def total_batch(self, world_size: int) -> int:
        """Images per optimiser step: batch_size x accum_iter x processes."""
        return self.batch_size * self.accum(world_size) * world_size

    def absolute_lr(self, world_size: int) -> float:
        return self.lr if self.lr is not None else self.blr * self.total_batch(world_size) / 256

    def amp(self) -> str:
        if self.dtype != "auto":
            return self.dtype
        return "bf16" if self.device.startswith("cuda") else "fp32"


@dataclass
class Method:
    """What a pretraining method adds to the shared loop."""
    model: torch.nn.Module
    step: Callable
    hooks: list[Hook] = dataclasses.field(default_factory=list)
    transform: Callable | None = None  # dataset transform; default: the MAE pretraining one


def _divisor_batch(effective_batch: int, world_size: int) -> int | None:
    """The largest per-process batch <= 64 with batch x world_size dividing ``effective_batch`` (for error messages)."""
    return next((b for b in range(64, 0, -1) if effective_batch % (b * world_size) == 0), None)


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device
