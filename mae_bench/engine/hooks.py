"""Hooks shared by every task: JSON-line + TensorBoard logging and checkpointing (rank 0 only)."""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

from ..checkpoints import temp_name
from .dist import all_reduce_mean
from .trainer import Hook
from .training_state import save_checkpoint, unwrap
from .vis import read_log


class LogHook(Hook):
    """One JSON line per epoch in ``log.jsonl`` plus TensorBoard scalars under ``tb/``.

    Put it after the checkpoint hook: an epoch is logged once its checkpoint is saved. At the start, lines of the
    epochs this run will train (from ``start_epoch`` on: an epoch logged but not saved before a kill, or newer than
    the checkpoint a resume fell back to) are dropped, so a resumed run never repeats an epoch in the log."""

    def __init__(self, output_dir: str | Path, tensorboard: bool = True):
        self.path = Path(output_dir) / "log.jsonl"
        self.tb_dir = Path(output_dir) / "tb"
        self.tensorboard = tensorboard
        self.writer = None

    def before_train(self, trainer) -> None:
        if trainer.dist.is_main and self.path.is_file():
            rows = read_log(self.path)
            kept = [r for r in rows if isinstance(r.get("epoch"), int) and r["epoch"] < trainer.start_epoch]
            if len(kept) != sum(1 for line in self.path.read_text(errors="replace").splitlines() if line.strip()):
                tmp = temp_name(self.path)
                tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
                os.replace(tmp, self.path)
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


class EmaHook(Hook):
    """Update timm's ``ModelEmaV3`` after each optimiser step (every ``accum_iter`` iterations); with ``path``, rank 0
    also writes the EMA weights as the ``model`` of a checkpoint there after every epoch (what the transfer tasks
    load when the EMA model is the result, as in the MAE paper's supervised from-scratch recipe)."""

    def __init__(self, ema, path: str | Path | None = None, config: dict | None = None):
        self.ema, self.path, self.config = ema, path, config or {}

    def after_step(self, trainer) -> None:
        if trainer.steps_after(trainer.state["iteration"]):
            self.ema.update(unwrap(trainer.model))

    def after_epoch(self, trainer, stats: dict) -> None:
        if self.path is not None and trainer.dist.is_main:
            save_checkpoint(self.path, self.ema.module, None, stats["epoch"] + 1, self.config | dict(model_ema=True))


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


PREEMPTED_EXIT = 75  # exit status of a run stopped by SIGUSR1 or SIGTERM (tools/slurm_pretrain.sh then requeues it)


class Preempted(SystemExit):
    """Raised after the checkpoint of the epoch in which a stop signal arrived has been written."""


class StopOnSignalHook(Hook):
    """On SIGUSR1 (Slurm's ``--signal=USR1@SECONDS`` before the time limit) or SIGTERM (what Slurm, torchrun and
    ``kill`` send): finish the current epoch, let the checkpoint hook (which must come earlier in the list) save it,
    then exit with ``PREEMPTED_EXIT``. The flag is all-reduced at each epoch end so every rank stops after the same
    epoch; a resumed run replays exactly."""

    def __init__(self, signals: tuple[int, ...] = (signal.SIGUSR1, signal.SIGTERM)):
        self.signals, self.received = signals, 0

    def before_train(self, trainer) -> None:
        if threading.current_thread() is threading.main_thread():
            for s in self.signals:
                signal.signal(s, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        if not self.received:
            print(f"{signal.Signals(signum).name} received: stopping after this epoch's checkpoint "
                  f"(exit {PREEMPTED_EXIT}; resume with --resume auto)", file=sys.stderr, flush=True)
        self.received = signum

    def after_epoch(self, trainer, stats: dict) -> None:
        if all_reduce_mean(1.0 if self.received else 0.0) > 0 and stats["epoch"] + 1 < trainer.epochs:
            raise Preempted(PREEMPTED_EXIT)
