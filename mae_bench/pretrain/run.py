"""The pretraining run: any method of ``mae_bench.methods.METHODS`` on the shared trainer, data and hooks.

``run_pretrain(PretrainConfig)`` builds the method's model, the ImageFolder loader (or the built-in synthetic
pool), AdamW and the hooks (logs, checkpoints, reconstructions, the live monitors of ``monitor.py``) and trains.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path

import torch
from torch.utils.data import DataLoader, DistributedSampler, Subset

from ..checkpoints import load_file
from ..data import SHAPES, build_imagefolder, jpeg_region, pretrain_transform, write_dataset
from ..data.check import check_dataset
from ..data.pipeline import check_pipeline, pretrain_loader
from ..data.shards import is_shard_pattern
from ..data.writers import MARKER
from ..engine.amp import grad_scaler, resolve_amp
from ..engine.dist import DistInfo, barrier, init_distributed
from ..engine.hooks import CheckpointHook, EmaHook, Hook, LogHook, StopOnSignalHook
from ..engine.optim import adamw, param_groups
from ..engine.outdir import owned
from ..engine.trainer import Schedule, Trainer
from ..engine.training_state import check_same_config, load_training_state, newest_checkpoint, resume_path, unwrap
from ..engine.vis import plot_loss_curve, save_reconstructions
from ..errors import ConfigError, DataError
from ..methods import METHODS, Method, PretrainConfig, model_device
from .monitor import build_monitor, pretraining_indices

log = logging.getLogger("mae_bench.pretrain")


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
    (disjoint from every transfer set; ``pool/train/<class>/``); rank 0 writes it once (``write_dataset`` leaves its
    marker in the root last), the rest wait at a barrier."""
    root = Path(cfg.output_dir) / "synthetic_imagefolder"
    if dist.is_main and not (root / MARKER).is_file():
        write_dataset("imagefolder", root, 2 * len(SHAPES), max(cfg.input_size, 64), cfg.seed, pool=cfg.synthetic_num)
    barrier()
    return root / "pool"


def checked_data_path(cfg: PretrainConfig, dist: DistInfo) -> str:
    """``--data_path`` (or the built-in synthetic pool); an ImageFolder's ``train/`` is checked by
    ``mae_bench.data.check`` (file listing: missing or empty folders, empty classes or files) before any model is
    built. Shard patterns and flat image folders (fast pipeline) are checked by their reader."""
    data_path = cfg.data_path
    if data_path is None:
        data_path = synthetic_data_path(cfg, dist)
        log.info("no --data_path given: using the built-in synthetic dataset (%d scenes) at %s",
                 cfg.synthetic_num, data_path)
    data_path = str(data_path)
    if not is_shard_pattern(data_path) and ((Path(data_path) / "train").is_dir() or cfg.data_pipeline == "official"):
        check_dataset("imagefolder", data_path, splits=("train",)).raise_if_problems()
    return data_path


def build_loader(cfg: PretrainConfig, dist: DistInfo, transform, data_path: str) -> DataLoader:
    if transform is None:  # MAE's own crops through the fast pipeline
        return fast_loader(cfg, dist, data_path)
    dataset = build_imagefolder(data_path, "train", transform, cfg.skip_corrupt,
                                hint=" (pass --skip_corrupt to skip unreadable files)")
    if cfg.monitor_every and not cfg.monitor_data:  # the monitors' held-out slice stays out of pretraining
        dataset = Subset(dataset, pretraining_indices(len(dataset), cfg.monitor_fraction))
    if len(dataset) < cfg.batch_size * dist.world_size:
        raise DataError(f"{data_path}/train has {len(dataset)} images, fewer than one batch "
                         f"({cfg.batch_size} x {dist.world_size} processes); lower --batch_size")
    sampler = DistributedSampler(dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=cfg.seed)
    return DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers,
                      pin_memory=cfg.pin_mem and dist.device.type == "cuda", drop_last=True,
                      persistent_workers=False)


def fast_loader(cfg: PretrainConfig, dist: DistInfo, data_path) -> DataLoader:
    keep = None
    if cfg.monitor_every and not cfg.monitor_data:  # the monitors' held-out slice stays out of pretraining
        keep = functools.partial(pretraining_indices, fraction=cfg.monitor_fraction)
    loader = pretrain_loader(str(data_path), cfg.input_size, cfg.batch_size, cfg.num_workers, cfg.seed, dist.rank,
                             dist.world_size, cfg.crop_scale, cfg.pin_mem and dist.device.type == "cuda",
                             cfg.gpu_decode, cfg.skip_corrupt, keep)
    if len(loader) < 1:
        raise DataError(f"{data_path} gives no full batch of {cfg.batch_size} per process ({dist.world_size} "
                         f"process(es)); lower --batch_size")
    return loader


def build_optimizer(cfg: PretrainConfig, method: Method, lr: float) -> torch.optim.AdamW:
    """AdamW over the method's weight-decay groups with its betas: (0.9, 0.95) and MAE's groups by default
    (main_pretrain.py @ efb2a80); MoCo v3 decays every parameter with torch's betas (main_moco.py @ c349e6e)."""
    groups = param_groups(method.model, cfg.weight_decay, skip=None if method.decay_all else method.no_decay_names)
    return adamw(groups, lr=lr, betas=method.betas)


def fixed_images(loader: DataLoader, n: int = 4) -> torch.Tensor:
    """The first n images of the dataset, deterministically (reconstruction panel)."""
    if hasattr(loader.dataset, "preview"):  # the fast pipeline's uint8 crops
        return loader.dataset.preview(n)
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


def pipeline_label(cfg: PretrainConfig) -> str:
    """The input pipeline the run uses: the baselines bring their own transforms (``method``)."""
    if cfg.method != "mae":
        return "method"
    if cfg.aug != "crop_rand":
        return f"torchvision (--aug {cfg.aug})"
    return cfg.data_pipeline + ("+gpu_decode" if cfg.gpu_decode else "")


def run_pretrain(cfg: PretrainConfig) -> dict:
    """Build everything from ``cfg`` and train; returns the final epoch stats (rank 0 writes files)."""
    if cfg.method not in METHODS:
        raise ConfigError(f"unknown --method {cfg.method!r}; known: {', '.join(METHODS)}")
    check_pipeline(cfg.data_pipeline, cfg.gpu_decode, cfg.data_path)
    dist = init_distributed(cfg.device)
    accum = cfg.accum(dist.world_size)  # fails here, before any file, data or model work, when it cannot be exact
    out = Path(cfg.output_dir)
    lr, amp, pipeline = cfg.absolute_lr(dist.world_size), resolve_amp(cfg.amp, dist.device), pipeline_label(cfg)
    config = dataclasses.asdict(cfg) | dict(world_size=dist.world_size, effective_batch=cfg.total_batch(
        dist.world_size), accum_iter=accum, abs_lr=lr, amp=amp, data_pipeline=pipeline)
    ckpt = resume_path(cfg.resume, out)
    if ckpt is not None and resumed_run_finished(ckpt, config, cfg.epochs, auto=cfg.resume == "auto"):
        return {}
    if not cfg.resume and newest_checkpoint(out) is not None:
        raise ConfigError(f"--output_dir {out} holds {newest_checkpoint(out).name} of an earlier run: pass "
                          f"--resume auto to continue it, or give this run a new --output_dir")
    with owned(out, "--output_dir", dist.is_main):
        return _train(cfg, dist, out, ckpt, config, accum, lr, amp, pipeline)


def _train(cfg: PretrainConfig, dist, out: Path, ckpt: Path | None, config: dict, accum: int, lr: float, amp: str,
           pipeline: str) -> dict:
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
    data_path = checked_data_path(cfg, dist)
    torch.manual_seed(cfg.seed)  # same initial weights on every rank
    method = METHODS[cfg.method](cfg)
    model = method.model.to(dist.device)
    official = pretrain_transform(cfg.input_size, cfg.crop_scale) if cfg.data_pipeline == "official" else None
    loader = build_loader(cfg, dist, method.transform or official, data_path)
    optimizer = build_optimizer(cfg, method, lr)
    scaler = grad_scaler(amp, dist.device)
    ema = None
    if cfg.model_ema:  # timm's ModelEmaV3 of the weights (the MAE paper's from-scratch supervised recipe: 0.9999)
        from timm.utils import ModelEmaV3
        ema = ModelEmaV3(model, decay=cfg.model_ema_decay)
    start_epoch = 0
    if ckpt is not None:
        saved = load_training_state(ckpt, model, optimizer, scaler)
        start_epoch = int(saved["epoch"])
        if ema is not None and saved.get("model_ema"):
            ema.module.load_state_dict(saved["model_ema"])
        log.info("resumed from %s at epoch %d", ckpt, start_epoch)
    if cfg.compile:
        model = torch.compile(model)
    if dist.distributed:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dist.local_rank] if dist.device.type == "cuda" else None)
    extra = {} if ema is None else dict(model_ema=lambda t: ema.module.state_dict())
    # the log line before the checkpoint: an interrupt between the two leaves an epoch logged but not saved, whose
    # line LogHook drops when the resumed run trains that epoch again (checkpoint first would lose the line)
    hooks = [LogHook(cfg.log_dir or out, cfg.tensorboard), CheckpointHook(out, config, cfg.save_every, **extra),
             *method.hooks, StopOnSignalHook()]
    if ema is not None:  # before the checkpoint hook: the EMA update of an epoch's last step lands in its checkpoint
        hooks.insert(0, EmaHook(ema, out / "checkpoint-ema.pth", config))
    if cfg.monitor_every:
        data_path = cfg.data_path or synthetic_data_path(cfg, dist)
        monitor = build_monitor(cfg, dist, data_path, Path(cfg.log_dir or out))
        hooks.insert(0, monitor)  # before LogHook: it logs the numbers
    if cfg.method == "mae" and cfg.vis_every:
        hooks.append(ReconstructionHook(fixed_images(loader), out, cfg.vis_every, cfg.mask_ratio))
    trainer = Trainer(model, optimizer, loader, method.step, Schedule(lr, cfg.min_lr, cfg.warmup_epochs, cfg.epochs),
                      dist=dist, epochs=cfg.epochs, start_epoch=start_epoch, accum_iter=accum, amp=amp,
                      clip_grad=cfg.clip_grad, seed=cfg.seed, hooks=hooks, max_iters=cfg.max_iters_per_epoch,
                      desc=f"pretrain {cfg.method}", scaler=scaler)
    # the install's region JPEG decoder (built, or the fallback and why); one that should load and does not stops here
    decoder = jpeg_region.describe() if pipeline.startswith("fast") else "not used by this pipeline"
    if dist.is_main:
        rule = "--lr" if cfg.lr is not None else f"blr {cfg.blr:.3g} x {cfg.total_batch(dist.world_size)} / 256"
        log.info("%s: %s, %d process(es) x batch %d x accum_iter %d = effective batch %d, lr %.3g (%s), %s, "
                 "%d iterations/epoch, data pipeline %s, JPEG region decoder %s", cfg.method, cfg.model,
                 dist.world_size, cfg.batch_size, accum, cfg.total_batch(dist.world_size), lr, rule, amp,
                 trainer.iters_per_epoch(), pipeline, decoder)
    history = trainer.fit()
    if dist.is_main and (out / "log.jsonl").exists():
        plot_loss_curve(out / "log.jsonl", out / "loss_curve.png")
    return history[-1] if history else {}
