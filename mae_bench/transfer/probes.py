"""Heads trained on a frozen encoder: ``--task linprobe_grid`` (many linear heads in one pass) and
``--task attentive`` (efficient probing: cross-attention queries over the patch tokens + linear classifier).

    tools/transfer.py --task linprobe_grid --ckpt PATH --config configs/linprobe_grid/vit_b.py --data-root DIR
    tools/transfer.py --task attentive --ckpt PATH --config configs/attentive/vit_b.py --data-root /datasets/imagenet

linprobe_grid follows facebookresearch/dinov2 ``dinov2/eval/linear.py`` (commit 81b2b64): one frozen forward per
batch (RandomResizedCrop + flip) feeds every head; a head reads the cls tokens of the last n blocks
(n in ``n_last_blocks``), optionally concatenated with the mean patch token of the last block, each token after
the final norm; Linear initialised N(0, 0.01), bias 0; SGD momentum 0.9, no weight decay, one parameter group
per head with lr x batch / 256, cosine to 0 over all iterations; the loss is the sum of the heads' cross-entropies
(the heads' gradients stay independent). We add ``avg`` (mean patch token alone, MAE's better pooling). The
record holds ``top1_<head>`` of every head, ``top1`` of the best and its name in ``best_head``. The official
single-head recipe stays ``--task linprobe``.

attentive follows Psomas et al., "Attention, Please! Revisiting Attentive Probing Through the Lens of Efficiency"
(arXiv 2506.10178; billpsomas/efficient-probing, commit b8f4fb8: ``poolings/ep.py``, ``probe_heads.py``,
``main_linprobe.py``): EP pooling = learnable queries (N(0, 0.02)) attend to the patch tokens with the raw tokens
as keys (scale D^-1/2) and a bias-free value projection split across the queries, then BatchNorm1d(affine=False,
eps 1e-6) + Linear; LARS, base lr 0.1 x batch / 256, 10 warmup epochs then cosine, no weight decay, 90 epochs.
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Callable, Iterator

import torch

from ..data import build_imagefolder, eval_transform
from ..engine.amp import autocast
from ..engine.optim import lars
from ..errors import DataError
from ..evaluation.features import last_blocks, summarize
from ..evaluation.heads import (
    EfficientProbe,
    LinearGrid,
    accuracy,
    eval_batches,
    fit,
    grid_inputs,
    grid_metrics,
    num_steps,
    tensor_batches,
)
from .frozen import (
    FrozenConfig,
    FrozenTask,
    build_encoder,
    cached_features,
    feature_set_classes,
    load_feature_set,
    loader,
    start,
    train_transform,
)
from .task import Outcome, Run

log = logging.getLogger("mae_bench.probes")


# ---------------------------------------------------------------- batches of frozen features


def image_batches(vit, data, cfg: FrozenConfig, device, n_last: int, tokens: bool) -> Callable[[], Iterator]:
    """Per epoch: one frozen forward per batch -> (features, labels); ``tokens``: the last block's patch tokens."""

    def epoch():
        for imgs, labels in data:
            with torch.no_grad(), autocast(cfg.amp, device):
                blocks = last_blocks(vit, imgs.to(device, non_blocking=True), n_last)
                feats = dict(tokens=blocks[-1][0].float()) if tokens else summarize(blocks)
            yield feats, labels.to(device)
    return epoch


# ---------------------------------------------------------------- runs


def run_grid(run: Run, cfg: FrozenConfig, root: Path, device, fset: dict | None,
             num_classes: int) -> tuple[dict, dict]:
    """Train the grid; -> (metrics, extra record fields)."""
    n_last = max(cfg.n_last_blocks)
    inputs = grid_inputs(cfg.n_last_blocks, cfg.pools)
    vit = None
    if fset is not None:
        train, val = fset["train"], fset["val"]
    else:
        vit, _ = build_encoder(cfg, run.checkpoint.file, device)
        sha = run.checkpoint.sha256
        train = cached_features(vit, sha, root, "train", cfg, device) if cfg.grid_on_features else None
        val = cached_features(vit, sha, root, "val", cfg, device)
    torch.manual_seed(cfg.seed)
    probe = LinearGrid({k: val[k][:2] for k in ("cls", "avg")}, inputs, list(cfg.learning_rates), num_classes)
    probe.to(device)
    if train is not None:
        batches = tensor_batches(train, cfg.batch_size, cfg.seed, device, ("cls", "avg"))
        steps = num_steps(len(train["labels"]), cfg.batch_size)
    else:
        data = loader(root, "train", train_transform(cfg), cfg.batch_size, cfg, True)
        batches, steps = image_batches(vit, data, cfg, device, n_last, tokens=False), len(data)
    train_s = fit(probe, probe.optimizer(cfg.batch_size), batches, steps, cfg.epochs, 1.0, cfg.seed,
                  cfg.iters_per_epoch)
    acc = accuracy(probe, eval_batches(val, cfg.eval_batch_size, device, ("cls", "avg")))
    metrics, best = grid_metrics(acc)
    log.info("linprobe_grid: %d heads, best %s top-1 %.2f", len(acc), best, acc[best])
    return metrics, dict(best_head=best, num_heads=len(acc), train_time_s=train_s, num_val_images=len(val["labels"]))


def run_attentive(run: Run, cfg: FrozenConfig, root: Path, device, fset: dict | None,
                  num_classes: int) -> tuple[dict, dict]:
    """Train the attentive probe; -> (metrics, extra record fields)."""
    lr = cfg.blr * cfg.batch_size / 256
    if fset is not None:
        for split in ("train", "val"):
            if "tokens" not in fset[split]:
                raise DataError(f"attentive: {root}/features.pt has no {split}.tokens (patch tokens [N, L, D])")
        train = tensor_batches(fset["train"], cfg.batch_size, cfg.seed, device, ("tokens",))
        steps = num_steps(len(fset["train"]["labels"]), cfg.batch_size)
        val = functools.partial(eval_batches, fset["val"], cfg.eval_batch_size, device, ("tokens",))
        dim = fset["train"]["tokens"].shape[-1]
    else:
        vit, _ = build_encoder(cfg, run.checkpoint.file, device)
        data = loader(root, "train", train_transform(cfg), cfg.batch_size, cfg, True)
        train, steps = image_batches(vit, data, cfg, device, 1, tokens=True), len(data)
        val = image_batches(vit, loader(root, "val", eval_transform(cfg.input_size, cfg.eval_crop_pct),
                                        cfg.eval_batch_size, cfg, False), cfg, device, 1, tokens=True)
        dim = vit.embed_dim
    torch.manual_seed(cfg.seed)
    probe = EfficientProbe(dim, num_classes, cfg.num_queries).to(device)
    opt = lars(probe.parameters(), lr, cfg.weight_decay) if cfg.optimizer == "lars" else torch.optim.SGD(
        probe.parameters(), lr=lr, momentum=0.9, weight_decay=cfg.weight_decay)
    train_s = fit(probe, opt, train, steps, cfg.epochs, lr, cfg.seed, cfg.iters_per_epoch, cfg.warmup_epochs)
    top1 = accuracy(probe, val())["attentive"]
    log.info("attentive: top-1 %.2f", top1)
    return dict(top1=top1), dict(num_queries=cfg.num_queries, abs_lr=lr, train_time_s=train_s)


class ProbeTask(FrozenTask):
    """A head trained on frozen features (``train``: ``run_grid`` or ``run_attentive``)."""
    metrics = ("top1",)

    def train(self, run: Run, cfg: FrozenConfig, root: Path, device, fset: dict | None,
              num_classes: int) -> tuple[dict, dict]:
        raise NotImplementedError(f"task {self.name!r}: write train(...) -> (metrics, record extras)")

    def run(self, run: Run) -> Outcome:
        """Train the head on ``--data-root`` (images or ``features.pt``) -> top-1."""
        cfg, device, root, dataset_label = start(run)
        fset = load_feature_set(root)
        classes = feature_set_classes(fset) if fset is not None else build_imagefolder(root, "train", None).classes
        metrics, extra = self.train(run, cfg, root, device, fset, len(classes))
        return Outcome(metrics, cfg.model, dataset_label, seed=cfg.seed,
                       extra=dict(epochs=cfg.epochs, iters_per_epoch=cfg.iters_per_epoch, batch_size=cfg.batch_size,
                                  **extra))


class LinprobeGridTask(ProbeTask):
    """``--task linprobe_grid``: dinov2's grid of linear heads in one pass."""
    name = "linprobe_grid"
    train = staticmethod(run_grid)


class AttentiveTask(ProbeTask):
    """``--task attentive``: efficient probing's attentive head."""
    name = "attentive"
    train = staticmethod(run_attentive)
