"""Live monitors during pretraining (``tools/pretrain.py --monitor_every N``): k-NN and a linear-head grid on the
frozen current encoder every N epochs, for every method (MAE, supervised, MoCo v3: all are ``VisionTransformer``s).

Data: ``--monitor_data DIR`` (``DIR/train`` = the k-NN bank and the heads' training set, ``DIR/val`` = the
queries), or else a held-out slice of the pretraining ``train/`` folder: every ``round(1 / monitor_fraction)``-th
image is removed from pretraining (``pretraining_indices``) and split 4:1 into bank and queries.
Each monitor epoch: the eval-transform features of bank and queries (cls token and mean patch token, last 4
blocks, after the final norm; ``evaluation.features``), the weighted k-NN of ``evaluation.knn_vote`` (k = 20, T = 0.07)
on both features, and ``evaluation.heads.LinearGrid`` (4 learning rates x cls / avg / cls4+avg) trained on the bank
features without augmentation. The numbers go into the epoch stats, so ``LogHook`` writes them to ``log.jsonl``
and TensorBoard (``epoch/monitor_*``); after training ``monitors.png`` plots them beside the loss.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from ..data import build_imagefolder, eval_transform
from ..engine.trainer import Hook
from ..engine.training_state import unwrap
from ..errors import ConfigError, DataError
from ..evaluation.features import extract
from ..evaluation.heads import (
    LinearGrid,
    accuracy,
    eval_batches,
    fit,
    grid_inputs,
    grid_metrics,
    num_steps,
    tensor_batches,
)
from ..evaluation.knn_vote import knn_accuracy

log = logging.getLogger("mae_bench.monitor")
MONITOR_LRS = [1e-3, 1e-2, 0.1, 1.0]


def held_out(n: int, fraction: float) -> list[int]:
    """Indices of the held-out slice of a training set of ``n`` images: every ``round(1 / fraction)``-th."""
    if not 0 < fraction < 1:
        raise ConfigError(f"--monitor_fraction {fraction} must lie in (0, 1)")
    return list(range(0, n, max(2, round(1 / fraction))))


def pretraining_indices(n: int, fraction: float) -> list[int]:
    """The images pretraining keeps when the monitors hold out a slice."""
    out = set(held_out(n, fraction))
    return [i for i in range(n) if i not in out]


def monitor_loaders(data_path: str | Path, monitor_data: str | None, fraction: float, input_size: int,
                    batch_size: int) -> tuple[DataLoader, DataLoader]:
    """(bank loader, query loader), eval transform, fixed order."""
    transform = eval_transform(input_size)
    if monitor_data:
        bank, query = (build_imagefolder(monitor_data, s, transform) for s in ("train", "val"))
    else:
        full = build_imagefolder(data_path, "train", transform)
        idx = held_out(len(full), fraction)
        bank, query = Subset(full, [i for j, i in enumerate(idx) if j % 5]), Subset(full, idx[::5])
    if len(bank) < 2 or len(query) < 1:
        raise DataError(f"monitor data too small: {len(bank)} bank / {len(query)} query images; raise "
                         "--monitor_fraction or pass --monitor_data DIR")
    return tuple(DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=0) for ds in (bank, query))


def encoder_of(model: torch.nn.Module) -> torch.nn.Module:
    """The ``VisionTransformer`` inside DDP / torch.compile wrappers."""
    model = unwrap(model)
    return getattr(model, "_orig_mod", model)


def monitor_metrics(vit, bank_loader, query_loader, device, seed: int = 0, epochs: int = 30) -> dict[str, float]:
    """k-NN (cls, avg; k = 20) and the best grid head's top-1 (%) of the frozen ``vit`` on the monitor data."""
    was_training = vit.training
    vit.eval()
    bank, query = extract(vit, bank_loader, 4, device), extract(vit, query_loader, 4, device)
    vit.train(was_training)
    out = {}
    for name, key in (("cls", lambda f: f["cls"][:, -1]), ("avg", lambda f: f["avg"])):
        k = min(20, len(bank["labels"]))
        out[f"monitor_knn_{name}_top1"] = knn_accuracy(key(bank), bank["labels"], key(query), query["labels"], [k],
                                                       device=device)[k][0]
    num_classes = int(max(bank["labels"].max(), query["labels"].max())) + 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        grid = LinearGrid(bank, grid_inputs([1, 4], ["cls", "avg", "cls_avg"])[:3], MONITOR_LRS, num_classes)
        grid.to(device)
        batch = min(64, len(bank["labels"]))
        with torch.enable_grad():
            fit(grid, grid.optimizer(batch), tensor_batches(bank, batch, seed, device, ("cls", "avg")),
                num_steps(len(bank["labels"]), batch), epochs, 1.0, seed)
        metrics, best = grid_metrics(accuracy(grid, eval_batches(query, 256, device, ("cls", "avg"))))
    out["monitor_linear_top1"] = metrics["top1"]
    return out


class MonitorHook(Hook):
    """Every ``every`` epochs (and after the last), rank 0: ``monitor_metrics`` into the epoch stats, with the
    seconds it took as ``monitor_time_s``. Goes before ``LogHook``."""

    def __init__(self, every: int, bank_loader: DataLoader, query_loader: DataLoader, log_path: Path,
                 plot_path: Path, seed: int = 0):
        self.every, self.bank, self.query = every, bank_loader, query_loader
        self.log_path, self.plot_path, self.seed = Path(log_path), Path(plot_path), seed

    def after_epoch(self, trainer, stats: dict) -> None:
        epoch = stats["epoch"] + 1
        if not trainer.dist.is_main or not (epoch % self.every == 0 or epoch == trainer.epochs):
            return
        t0 = time.time()
        vit = encoder_of(trainer.model)
        stats.update(monitor_metrics(vit, self.bank, self.query, trainer.dist.device, self.seed))
        stats["monitor_time_s"] = time.time() - t0
        log.info("epoch %d monitors: %s", epoch, {k: round(v, 2) for k, v in stats.items() if k.startswith("monitor")})

    def after_train(self, trainer) -> None:
        if trainer.dist.is_main and self.log_path.is_file():
            plot_monitors(self.log_path, self.plot_path)


def plot_monitors(log_jsonl: str | Path, path: str | Path) -> Path:
    """Two panels from ``log.jsonl``: train loss per epoch | the monitors' top-1 per monitored epoch."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in Path(log_jsonl).read_text().splitlines() if line.strip()]
    fig, (ax_loss, ax_mon) = plt.subplots(1, 2, figsize=(9, 3.2), dpi=120)
    ax_loss.plot([r["epoch"] + 1 for r in rows], [r["loss"] for r in rows], marker="o", ms=3)
    ax_loss.set(xlabel="epoch", ylabel="train loss", title="pretraining loss")
    labels = {"monitor_knn_cls_top1": "k-NN cls", "monitor_knn_avg_top1": "k-NN avg",
              "monitor_linear_top1": "linear grid (best)"}
    for key, label in labels.items():
        pts = [(r["epoch"] + 1, r[key]) for r in rows if key in r]
        if pts:
            ax_mon.plot(*zip(*pts), marker="o", ms=3, label=label)
    ax_mon.set(xlabel="epoch", ylabel="top-1 (%)", title="monitors (held-out data)")
    ax_mon.legend(fontsize=8)
    for ax in (ax_loss, ax_mon):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def build_monitor(cfg, dist, data_path: str | Path, log_dir: Path) -> MonitorHook:
    """The hook for a ``PretrainConfig`` on ``data_path`` (its ``--data_path``, or the synthetic set it generated)."""
    bank, query = monitor_loaders(data_path, cfg.monitor_data, cfg.monitor_fraction, cfg.input_size,
                                  max(cfg.batch_size, 64))
    if dist.is_main:
        log.info("monitors every %d epochs on %d bank / %d query images (%s)", cfg.monitor_every, len(bank.dataset),
                 len(query.dataset), cfg.monitor_data or f"held-out {cfg.monitor_fraction:.0%} of {data_path}/train")
    return MonitorHook(cfg.monitor_every, bank, query, log_dir / "log.jsonl", Path(cfg.output_dir) / "monitors.png",
                       cfg.seed)
