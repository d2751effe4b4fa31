"""MAE pretraining (and, through ``METHODS``, the equal-budget baselines) on the shared trainer.

``PretrainConfig`` holds the official MAE recipe (REFERENCES.md) as defaults, with the official
flag names; ``tools/pretrain.py`` fills it from a config file and the command line.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import DataLoader, DistributedSampler, Subset

from ..checkpoints import load_file
from ..data import SHAPES, build_imagefolder, pretrain_transform, write_dataset
from ..errors import ConfigError, DataError
from ..models import create_mae
from .checkpoint import check_same_config, load_training_state, resume_path, unwrap
from .dist import DistInfo, barrier, init_distributed
from .hooks import CheckpointHook, Hook, LogHook, StopOnSignalHook
from .optim import adamw, param_groups
from .trainer import Schedule, Trainer
from .vis import plot_loss_curve, save_reconstructions

log = logging.getLogger("mae_bench.pretrain")


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
    monitor_every: int = 0  # k-NN + linear-head grid every N epochs (engine/monitor.py); 0: off
    monitor_data: str | None = None  # ImageFolder root (train/ = bank, val/ = queries); default: a held-out slice
    monitor_fraction: float = 0.1  # share of train/ held out of pretraining for the monitors (no --monitor_data)

    def accum(self, world_size: int) -> int:
        """Gradient accumulation steps; with ``effective_batch`` set, derived from it and exact or a ConfigError.

        The official MAE computes eff_batch_size = batch_size x accum_iter x world_size (main_pretrain.py @ efb2a80);
        here the recipe states the effective batch and the number of processes fixes ``accum_iter``.
        """
        if self.effective_batch is None:
            return self.accum_iter or 1
        per_step = self.batch_size * world_size
        if self.effective_batch % per_step:
            fit = _divisor_batch(self.effective_batch, world_size)
            hint = f"e.g. --batch_size {fit}" if fit else "no --batch_size <= 64 does: change the number of processes"
            raise ConfigError(
                f"effective batch {self.effective_batch} cannot be reached exactly with --batch_size {self.batch_size} "
                f"x {world_size} process(es) = {per_step} per step: pick --batch_size so that batch_size x processes "
                f"divides {self.effective_batch} ({hint}), or pass --effective_batch (a multiple of {per_step}; "
                f"lr = blr x effective batch / 256)")
        accum = self.effective_batch // per_step
        if self.accum_iter is not None and self.accum_iter != accum:
            raise ConfigError(f"--accum_iter {self.accum_iter} disagrees with --effective_batch {self.effective_batch}"
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


def build_mae(cfg: PretrainConfig) -> Method:
    model = create_mae(cfg.model, img_size=cfg.input_size, patch_size=cfg.patch_size, norm_pix_loss=cfg.norm_pix_loss,
                       decoder_embed_dim=cfg.decoder_embed_dim, decoder_depth=cfg.decoder_depth,
                       decoder_num_heads=cfg.decoder_num_heads, mask_ratio=cfg.mask_ratio,
                       drop_path_rate=cfg.drop_path)

    def step(model, batch):
        imgs = batch[0].to(model_device(model), non_blocking=True)
        loss, _, _ = model(imgs, mask_ratio=cfg.mask_ratio)
        return loss, imgs.shape[0]

    return Method(model=model, step=step)


METHODS: dict[str, Callable[[PretrainConfig], Method]] = {"mae": build_mae}


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


class ReconstructionHook(Hook):
    """PNG of reconstructions of a fixed batch every ``every`` epochs (and after the last)."""

    def __init__(self, images: torch.Tensor, output_dir: str | Path, every: int, mask_ratio: float):
        self.images, self.dir, self.every, self.mask_ratio = images, Path(output_dir) / "vis", every, mask_ratio

    def after_epoch(self, trainer, stats: dict) -> None:
        epoch = stats["epoch"] + 1
        if trainer.dist.is_main and self.every and (epoch % self.every == 0 or epoch == trainer.epochs):
            model = unwrap(trainer.model)
            save_reconstructions(model, self.images.to(model_device(model)), self.dir / f"recon_epoch{epoch:04d}.png",
                                 self.mask_ratio)


def synthetic_data_path(cfg: PretrainConfig, dist: DistInfo) -> Path:
    """Where the built-in synthetic set lives for this run: the pretraining pool of ``synthetic_num`` scenes
    (disjoint from every transfer set; ``pool/train/<class>/``); rank 0 writes it once, the rest wait."""
    root = Path(cfg.output_dir) / "synthetic_imagefolder"
    if dist.is_main and not (root / ".complete").exists():
        write_dataset("imagefolder", root, 2 * len(SHAPES), max(cfg.input_size, 64), cfg.seed, pool=cfg.synthetic_num)
        (root / ".complete").touch()
    barrier()
    return root / "pool"


def build_loader(cfg: PretrainConfig, dist: DistInfo, transform) -> DataLoader:
    data_path = cfg.data_path
    if data_path is None:
        data_path = synthetic_data_path(cfg, dist)
        log.info("no --data_path given: using the built-in synthetic dataset (%d scenes) at %s",
                 cfg.synthetic_num, data_path)
    dataset = build_imagefolder(data_path, "train", transform, cfg.skip_corrupt)
    if cfg.monitor_every and not cfg.monitor_data:  # the monitors' held-out slice stays out of pretraining
        from .monitor import pretraining_indices
        dataset = Subset(dataset, pretraining_indices(len(dataset), cfg.monitor_fraction))
    if len(dataset) < cfg.batch_size * dist.world_size:
        raise DataError(f"{data_path}/train has {len(dataset)} images, fewer than one batch "
                         f"({cfg.batch_size} x {dist.world_size} processes); lower --batch_size")
    sampler = DistributedSampler(dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=cfg.seed)
    return DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers,
                      pin_memory=cfg.pin_mem and dist.device.type == "cuda", drop_last=True,
                      persistent_workers=False)


def fixed_images(loader: DataLoader, n: int = 4) -> torch.Tensor:
    """The first n images of the dataset, deterministically (reconstruction panel)."""
    g = torch.get_rng_state()
    torch.manual_seed(0)
    imgs = torch.stack([loader.dataset[i][0] for i in range(min(n, len(loader.dataset)))])
    torch.set_rng_state(g)
    return imgs


# run config fields that do not change the result (where files go, how fast, how often saved; the processes x
# per-process batch x accumulation split of the compared effective batch): a resume may change them
NON_RESULT_FIELDS = ("output_dir", "log_dir", "resume", "device", "num_workers", "pin_mem", "save_every", "vis_every",
                     "tensorboard", "compile", "world_size", "batch_size", "accum_iter")


def resumed_run_finished(ckpt: Path, config: dict, epochs: int, auto: bool) -> bool:
    """Check the checkpoint to resume: an auto-resume (``--resume auto``: the run finds its own checkpoint, e.g. a
    requeued job) whose saved config differs from the requested one in a field that changes the result is refused,
    naming the fields (an explicit ``--resume PATH`` is the user's choice); True, with a message, when the run has
    already finished."""
    saved = load_file(ckpt)
    if auto:
        check_same_config(ckpt, saved.get("config") or {}, config, NON_RESULT_FIELDS)
    done = int(saved.get("epoch", 0))
    if done >= epochs:
        log.info("run already finished: %s holds %d of %d epochs; nothing to train", ckpt, done, epochs)
        return True
    return False


def run_pretrain(cfg: PretrainConfig) -> dict:
    """Build everything from ``cfg`` and train; returns the final epoch stats (rank 0 writes files)."""
    from .. import methods  # noqa: F401  (registers the supervised and mocov3 baselines in METHODS)
    if cfg.method not in METHODS:
        raise ConfigError(f"unknown --method {cfg.method!r}; known: {', '.join(METHODS)}")
    dist = init_distributed(cfg.device)
    accum = cfg.accum(dist.world_size)  # fails here, before any file, data or model work, when it cannot be exact
    out = Path(cfg.output_dir)
    lr = cfg.absolute_lr(dist.world_size)
    config = dataclasses.asdict(cfg) | dict(world_size=dist.world_size, effective_batch=cfg.total_batch(
        dist.world_size), accum_iter=accum, abs_lr=lr)
    ckpt = resume_path(cfg.resume, out)
    if ckpt is not None and resumed_run_finished(ckpt, config, cfg.epochs, auto=cfg.resume == "auto"):
        return {}
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)  # same initial weights on every rank
    method = METHODS[cfg.method](cfg)
    model = method.model.to(dist.device)
    loader = build_loader(cfg, dist, method.transform or pretrain_transform(cfg.input_size, cfg.crop_scale))
    optimizer = adamw(param_groups(model, cfg.weight_decay), lr=lr, betas=(0.9, 0.95))
    start_epoch = 0
    if ckpt is not None:
        start_epoch = int(load_training_state(ckpt, model, optimizer)["epoch"])
        log.info("resumed from %s at epoch %d", ckpt, start_epoch)
    if cfg.compile:
        model = torch.compile(model)
    if dist.distributed:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dist.local_rank] if dist.device.type == "cuda" else None)
    hooks = [LogHook(cfg.log_dir or out, cfg.tensorboard), CheckpointHook(out, config, cfg.save_every), *method.hooks,
             StopOnSignalHook()]
    if cfg.monitor_every:
        from .monitor import build_monitor
        hooks.insert(0, build_monitor(cfg, dist, Path(cfg.log_dir or out)))  # before LogHook: it logs the numbers
    if cfg.method == "mae" and cfg.vis_every:
        hooks.append(ReconstructionHook(fixed_images(loader), out, cfg.vis_every, cfg.mask_ratio))
    trainer = Trainer(model, optimizer, loader, method.step, Schedule(lr, cfg.min_lr, cfg.warmup_epochs, cfg.epochs),
                      dist=dist, epochs=cfg.epochs, start_epoch=start_epoch, accum_iter=accum, amp=cfg.amp(),
                      clip_grad=cfg.clip_grad, seed=cfg.seed, hooks=hooks, max_iters=cfg.max_iters_per_epoch,
                      desc=f"pretrain {cfg.method}")
    if dist.is_main:
        rule = "--lr" if cfg.lr is not None else f"blr {cfg.blr:.3g} x {cfg.total_batch(dist.world_size)} / 256"
        log.info("%s: %s, %d process(es) x batch %d x accum_iter %d = effective batch %d, lr %.3g (%s), %s, "
                 "%d iterations/epoch", cfg.method, cfg.model, dist.world_size, cfg.batch_size, accum,
                 cfg.total_batch(dist.world_size), lr, rule, cfg.amp(), trainer.iters_per_epoch())
    history = trainer.fit()
    if dist.is_main and (out / "log.jsonl").exists():
        plot_loss_curve(out / "log.jsonl", out / "loss_curve.png")
    return history[-1] if history else {}
