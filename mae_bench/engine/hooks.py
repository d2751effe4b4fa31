"""Hooks shared by every task: JSON-line + TensorBoard logging and checkpointing (rank 0 only)."""
from __future__ import annotations

import json
from pathlib import Path

from .checkpoint import save_checkpoint
from .trainer import Hook


class LogHook(Hook):
    """One JSON line per epoch in ``log.jsonl`` plus TensorBoard scalars under ``tb/``."""

    def __init__(self, output_dir: str | Path, tensorboard: bool = True):
        self.path = Path(output_dir) / "log.jsonl"
        self.tb_dir = Path(output_dir) / "tb"
        self.tensorboard = tensorboard
        self.writer = None

    def before_train(self, trainer) -> None:
        if trainer.dist.is_main and self.tensorboard:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(self.tb_dir))

    def after_step(self, trainer) -> None:
        if self.writer is not None:
            step = trainer.state["epoch"] * trainer.iters_per_epoch() + trainer.state["iteration"]
            self.writer.add_scalar("train/loss", trainer.state["loss"], step)
            self.writer.add_scalar("train/lr", trainer.state["lr"], step)

    def after_epoch(self, trainer, stats: dict) -> None:
        if not trainer.dist.is_main:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(stats) + "\n")
        if self.writer is not None:
            for k, v in stats.items():
                if k != "epoch":
                    self.writer.add_scalar(f"epoch/{k}", v, stats["epoch"])
            self.writer.flush()

    def after_train(self, trainer) -> None:
        if self.writer is not None:
            self.writer.close()


class CheckpointHook(Hook):
    """``checkpoint-last.pth`` after every epoch, ``checkpoint-<epoch>.pth`` every ``save_every``."""

    def __init__(self, output_dir: str | Path, config: dict, save_every: int = 20, **extra_fn):
        self.output_dir = Path(output_dir)
        self.config = config
        self.save_every = save_every
        self.extra_fn = extra_fn  # name -> callable(trainer) returning extra plain entries

    def after_epoch(self, trainer, stats: dict) -> None:
        if not trainer.dist.is_main:
            return
        epoch = stats["epoch"] + 1  # epochs completed
        extra = {k: fn(trainer) for k, fn in self.extra_fn.items()}
        args = (trainer.model, trainer.optimizer, epoch, self.config)
        save_checkpoint(self.output_dir / "checkpoint-last.pth", *args, scaler=trainer.scaler, **extra)
        if self.save_every and (epoch % self.save_every == 0 or epoch == trainer.epochs):
            save_checkpoint(self.output_dir / f"checkpoint-{epoch}.pth", *args, scaler=trainer.scaler, **extra)
