"""One training loop with hooks. Pretraining (MAE, supervised, MoCo v3), fine-tuning and linear
probing all run through ``Trainer``; what differs is the ``step`` function and the hooks.

``step(model, batch) -> (loss, batch_size)``; the trainer handles per-iteration lr, gradient
accumulation (with DDP ``no_sync``), autocast and the fp16 loss scaler (``engine.amp``), clipping, the
non-finite loss check, the per-epoch seeds that make a resumed run bit-identical on CPU, and the progress bar.

The loop is the official MAE one (engine_pretrain.py / engine_finetune.py, facebookresearch/mae @ efb2a80):
gradients are cleared at every epoch's start, the lr is set on the first iteration of each accumulation,
and the optimizer steps after every ``accum_iter``-th iteration only, so when an epoch's iterations do not
divide by ``accum_iter`` its last, partial accumulation is dropped. With a scaler, a step unscales the
gradients, clips them if ``clip_grad`` is set, steps and updates the scale (util/misc.py
``NativeScalerWithGradNormCount``).
"""
from __future__ import annotations

import contextlib
import math
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ..errors import ConfigError
from ..progress import progress_bar
from .amp import autocast, grad_scaler, resolve_amp
from .dist import DistInfo, all_reduce_mean
from .optim import cosine_lr, set_lr


class NonFiniteLoss(RuntimeError):
    pass


class Hook:
    """Override any of these; ``trainer.state`` holds epoch, iteration and the last logs."""

    def before_train(self, trainer: "Trainer") -> None: ...
    def after_step(self, trainer: "Trainer") -> None: ...
    def after_epoch(self, trainer: "Trainer", stats: dict) -> None: ...
    def after_train(self, trainer: "Trainer") -> None: ...


@dataclass
class Schedule:
    lr: float
    min_lr: float
    warmup_epochs: float
    epochs: int

    def __post_init__(self):
        if self.min_lr > self.lr:
            raise ConfigError(f"min_lr={self.min_lr:g} is above the lr {self.lr:g} (blr x effective batch / 256 when "
                              f"lr is not set): the schedule would raise the lr; allowed min_lr <= lr")

    def __call__(self, epoch: float) -> float:
        return cosine_lr(epoch, self.lr, self.min_lr, self.warmup_epochs, self.epochs)


def accumulation(effective_batch: int | None, batch_size: int, world_size: int, accum_iter: int | None = None,
                 override: str = "--effective_batch") -> int:
    """Gradient accumulation steps that reach ``effective_batch`` exactly, or a ValueError naming the flags.

    The official scripts take ``--accum_iter`` and compute eff_batch_size = batch_size x accum_iter x processes
    (main_pretrain.py, main_finetune.py, main_linprobe.py @ efb2a80). Here a recipe states its effective batch
    and the number of processes fixes ``accum_iter``; a batch that cannot be reached is refused, never rounded,
    and a different one is asked for explicitly with ``override`` (the lr follows it: blr x batch / 256).
    Without ``effective_batch``: ``accum_iter`` (default 1).
    """
    if effective_batch is None:
        return accum_iter or 1
    per_step = batch_size * world_size
    if effective_batch % per_step:
        fit = _divisor_batch(effective_batch, world_size)
        hint = f"e.g. --batch_size {fit}" if fit else "no --batch_size <= 64 does: change the number of processes"
        raise ConfigError(
            f"effective batch {effective_batch} cannot be reached exactly with --batch_size {batch_size} x "
            f"{world_size} process(es) = {per_step} per step: pick --batch_size so that batch_size x processes "
            f"divides {effective_batch} ({hint}), or pass {override} (a multiple of {per_step}; "
            f"lr = blr x effective batch / 256)")
    accum = effective_batch // per_step
    if accum_iter is not None and accum_iter != accum:
        raise ConfigError(f"accum_iter {accum_iter} disagrees with effective batch {effective_batch} at --batch_size "
                         f"{batch_size} x {world_size} process(es) (needs {accum}); set only one of accum_iter and "
                         f"{override}")
    return accum


def _divisor_batch(effective_batch: int, world_size: int) -> int | None:
    """The largest per-process batch <= 64 with batch x world_size dividing ``effective_batch`` (for error messages)."""
    return next((b for b in range(64, 0, -1) if effective_batch % (b * world_size) == 0), None)


def seed_epoch(seed: int, epoch: int, rank: int) -> None:
    """Every epoch starts from its own seed, so a run resumed at an epoch boundary replays exactly."""
    s = (seed * 1_000_003 + epoch * 1009 + rank) % (2**31)
    torch.manual_seed(s)
    np.random.seed(s)
    random.seed(s)


@dataclass
class Trainer:
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    loader: torch.utils.data.DataLoader
    step: Callable
    schedule: Schedule | None
    dist: DistInfo = field(default_factory=DistInfo)
    epochs: int = 1
    start_epoch: int = 0
    accum_iter: int = 1
    amp: str = "fp32"  # engine.amp mode
    clip_grad: float | None = None
    seed: int = 0
    hooks: list[Hook] = field(default_factory=list)
    max_iters: int | None = None  # per epoch; for quick runs
    desc: str = "train"
    scaler: torch.amp.GradScaler | None = None
    state: dict = field(default_factory=dict)

    def __post_init__(self):
        self.amp = resolve_amp(self.amp, self.dist.device)
        if self.scaler is None:
            self.scaler = grad_scaler(self.amp, self.dist.device)

    def iters_per_epoch(self) -> int:
        n = len(self.loader)
        return min(n, self.max_iters) if self.max_iters else n

    def steps_after(self, it: int) -> bool:
        """Whether the optimizer steps after iteration ``it`` of an epoch (the last of an accumulation)."""
        return (it + 1) % self.accum_iter == 0

    def autocast(self):
        return autocast(self.amp, self.dist.device)

    def _backward(self, loss: torch.Tensor, sync: bool) -> None:
        ctx = self.model.no_sync() if (not sync and hasattr(self.model, "no_sync")) else contextlib.nullcontext()
        with ctx:
            scaled = loss / self.accum_iter
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()

    def _optimizer_step(self) -> None:
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        if self.clip_grad:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def train_one_epoch(self, epoch: int) -> dict:
        self.model.train()
        sampler = getattr(self.loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        seed_epoch(self.seed, epoch, self.dist.rank)
        n_iter = self.iters_per_epoch()
        bar = progress_bar(total=n_iter, desc=f"{self.desc} epoch {epoch + 1}/{self.epochs}",
                           disable=not self.dist.is_main, dynamic_ncols=True, leave=False)
        loss_sum, seen, t0 = 0.0, 0, time.time()
        self.optimizer.zero_grad(set_to_none=True)
        for it, batch in enumerate(self.loader):
            if it >= n_iter:
                break
            if self.schedule is not None and it % self.accum_iter == 0:
                set_lr(self.optimizer, self.schedule(epoch + it / n_iter))
            with self.autocast():
                loss, bs = self.step(self.model, batch)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise NonFiniteLoss(f"loss is {value} at epoch {epoch} iteration {it}; stopping")
            sync = self.steps_after(it)
            self._backward(loss, sync)
            if sync:
                self._optimizer_step()
            loss_sum += value * bs
            seen += bs
            self.state.update(epoch=epoch, iteration=it, loss=value, lr=self.optimizer.param_groups[0]["lr"])
            for h in self.hooks:
                h.after_step(self)
            bar.set_postfix(loss=f"{value:.4f}", lr=f"{self.state['lr']:.2e}", refresh=False)
            bar.update()
        bar.close()
        dt = time.time() - t0
        return dict(epoch=epoch, loss=all_reduce_mean(loss_sum / max(seen, 1)), lr=self.state.get("lr", 0.0),
                    images_per_s=seen * self.dist.world_size / dt, epoch_time_s=dt, iterations=n_iter)

    def fit(self) -> list[dict]:
        if self.iters_per_epoch() < self.accum_iter:
            raise ConfigError(f"{self.iters_per_epoch()} iterations per epoch are fewer than accum_iter "
                             f"{self.accum_iter}: no optimizer step would be taken; lower the effective batch")
        for h in self.hooks:
            h.before_train(self)
        history = []
        bar = progress_bar(range(self.start_epoch, self.epochs), desc=self.desc, initial=self.start_epoch,
                           total=self.epochs, disable=not self.dist.is_main, dynamic_ncols=True, unit="epoch")
        for epoch in bar:
            stats = self.train_one_epoch(epoch)
            bar.set_postfix(loss=f"{stats['loss']:.4f}", refresh=False)
            for h in self.hooks:
                h.after_epoch(self, stats)
            history.append(stats)
        for h in self.hooks:
            h.after_train(self)
        return history
