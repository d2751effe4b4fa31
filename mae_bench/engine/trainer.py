"""One training loop with hooks. Pretraining (MAE, supervised, MoCo v3), fine-tuning and linear
probing all run through ``Trainer``; what differs is the ``step`` function and the hooks.

``step(model, batch) -> (loss, batch_size)``; the trainer handles per-iteration lr, gradient
accumulation (with DDP ``no_sync``), autocast, clipping, the non-finite loss check, the
per-epoch seeds that make a resumed run bit-identical on CPU, and the progress bar.
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
from tqdm import tqdm

from ..errors import ConfigError
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

    def __call__(self, epoch: float) -> float:
        return cosine_lr(epoch, self.lr, self.min_lr, self.warmup_epochs, self.epochs)


AMP_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


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
    amp: str = "fp32"
    clip_grad: float | None = None
    seed: int = 0
    hooks: list[Hook] = field(default_factory=list)
    max_iters: int | None = None  # per epoch; for quick runs
    desc: str = "train"
    scaler: torch.amp.GradScaler | None = None
    state: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.amp not in AMP_DTYPES:
            raise ConfigError(f"unknown --dtype {self.amp!r}; known: {', '.join(AMP_DTYPES)}")
        if self.amp == "fp16" and self.scaler is None:
            self.scaler = torch.amp.GradScaler(self.dist.device.type)

    def iters_per_epoch(self) -> int:
        n = len(self.loader)
        return min(n, self.max_iters) if self.max_iters else n

    def autocast(self):
        dtype = AMP_DTYPES[self.amp]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.dist.device.type, dtype=dtype)

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
        bar = tqdm(total=n_iter, desc=f"{self.desc} epoch {epoch + 1}/{self.epochs}", disable=not self.dist.is_main,
                   dynamic_ncols=True, leave=False)
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
                raise NonFiniteLoss(f"loss is {value} at epoch {epoch} iteration {it}; stopping "
                                    "(the last saved checkpoint is kept)")
            sync = (it + 1) % self.accum_iter == 0 or it + 1 == n_iter
            self._backward(loss, sync)
            if sync:
                self._optimizer_step()
            loss_sum += value * bs
            seen += bs
            self.state.update(epoch=epoch, iteration=it, loss=value, lr=self.optimizer.param_groups[0]["lr"])
            for h in self.hooks:
                h.after_step(self)
            bar.set_postfix(loss=f"{value:.4f}", lr=f"{self.state['lr']:.2e}")
            bar.update()
        bar.close()
        dt = time.time() - t0
        return dict(epoch=epoch, loss=all_reduce_mean(loss_sum / max(seen, 1)), lr=self.state.get("lr", 0.0),
                    images_per_s=seen * self.dist.world_size / dt, epoch_time_s=dt, iterations=n_iter)

    def fit(self) -> list[dict]:
        for h in self.hooks:
            h.before_train(self)
        history = []
        bar = tqdm(range(self.start_epoch, self.epochs), desc=self.desc, initial=self.start_epoch,
                   total=self.epochs, disable=not self.dist.is_main, dynamic_ncols=True, unit="epoch")
        for epoch in bar:
            stats = self.train_one_epoch(epoch)
            bar.set_postfix(loss=f"{stats['loss']:.4f}")
            for h in self.hooks:
                h.after_epoch(self, stats)
            history.append(stats)
        for h in self.hooks:
            h.after_train(self)
        return history
