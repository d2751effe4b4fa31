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
import time
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data import build_imagefolder, eval_transform
from ..engine.optim import cosine_lr, set_lr
from ..errors import ConfigError, DataError
from .frozen import (FrozenConfig, build_encoder, cached_features, data_kind, data_root,  # noqa: F401
                     dataset_label, feature_set_classes, last_blocks, load_config, load_feature_set, loader,
                     set_options, single_process, summarize, train_transform)
from .skeleton import Outcome, Run

log = logging.getLogger("mae_bench.probes")
METRICS = ("top1",)


# ---------------------------------------------------------------- linear grid


def grid_inputs(n_last_blocks: list[int], pools: list[str]) -> list[str]:
    """Feature names of the grid: ``cls{n}`` / ``cls{n}_avg`` per n, and ``avg`` once."""
    names = []
    for n in n_last_blocks:
        names += [f"cls{n}"] * ("cls" in pools) + [f"cls{n}_avg"] * ("cls_avg" in pools)
    return names + ["avg"] * ("avg" in pools)


def grid_feature(feats: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    """``feats`` from ``summarize`` (``cls`` [N, n, D], ``avg`` [N, D]) -> the input [N, *] of feature ``name``."""
    if name == "avg":
        return feats["avg"]
    n = int(name[3:].split("_")[0])
    if n > feats["cls"].shape[1]:
        raise ConfigError(f"head {name} needs the last {n} blocks; features hold {feats['cls'].shape[1]}")
    cls = feats["cls"][:, -n:].flatten(1)
    return torch.cat([cls, feats["avg"]], dim=1) if name.endswith("_avg") else cls


class LinearGrid(nn.Module):
    """One ``nn.Linear`` per (input feature, learning rate); ``forward(feats) -> {head name: logits}``."""

    def __init__(self, sample: dict[str, torch.Tensor], inputs: list[str], lrs: list[float], num_classes: int):
        super().__init__()
        self.inputs, self.lrs = inputs, {}
        self.heads = nn.ModuleDict()
        for name in inputs:
            dim = grid_feature(sample, name).shape[1]
            for lr in lrs:
                key = f"{name}_lr{lr:g}".replace(".", "p").replace("-", "m")
                head = nn.Linear(dim, num_classes)
                nn.init.normal_(head.weight, std=0.01)
                nn.init.zeros_(head.bias)
                self.heads[key], self.lrs[key] = head, lr

    def forward(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = {name: grid_feature(feats, name) for name in self.inputs}
        return {key: head(x[key.rsplit("_lr", 1)[0]]) for key, head in self.heads.items()}

    def optimizer(self, batch_size: int) -> torch.optim.SGD:
        """SGD momentum 0.9, no weight decay, one group per head with lr_scale = lr x batch / 256 (dinov2)."""
        groups = [dict(params=h.parameters(), lr_scale=self.lrs[k] * batch_size / 256) for k, h in self.heads.items()]
        return torch.optim.SGD(groups, lr=0.0, momentum=0.9, weight_decay=0.0)


def grid_loss(outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
    return sum(F.cross_entropy(logits.float(), labels) for logits in outputs.values())


# ---------------------------------------------------------------- attentive probe


class EfficientProbe(nn.Module):
    """EP pooling + BatchNorm1d(affine=False) + Linear: patch tokens [N, L, D] -> logits [N, C].

    ``num_queries`` learnable queries q_j; attention a_j = softmax(q_j . x / sqrt(D)) over the tokens x (keys
    = the tokens, no projection); values W_v x (no bias) split into ``num_queries`` chunks of D / num_queries,
    chunk j pooled with a_j; the chunks concatenated -> [N, D].
    """

    def __init__(self, dim: int, num_classes: int, num_queries: int = 1):
        super().__init__()
        if dim % num_queries:
            raise ConfigError(f"attentive: num_queries {num_queries} must divide the feature width {dim}")
        self.num_queries, self.scale = num_queries, dim ** -0.5
        self.queries = nn.Parameter(torch.randn(num_queries, dim) * 0.02)
        self.v = nn.Linear(dim, dim, bias=False)
        self.bn = nn.BatchNorm1d(dim, affine=False, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def attention(self, tokens: torch.Tensor) -> torch.Tensor:
        """[N, L, D] -> attention maps [N, Q, L]."""
        return torch.softmax(torch.einsum("qd,nld->nql", self.queries * self.scale, tokens), dim=-1)

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        n, length, d = tokens.shape
        v = self.v(tokens).view(n, length, self.num_queries, d // self.num_queries)
        return torch.einsum("nql,nlqc->nqc", self.attention(tokens), v).reshape(n, d)

    def forward(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"attentive": self.head(self.bn(self.pool(feats["tokens"].float())))}


def lars(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """timm's LARS as in MAE's (and efficient probing's) linear probe: trust ratio on >= 2-D weights only."""
    from timm.optim import Lars
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [dict(params=[p for p in params if p.ndim > 1], always_adapt=True),
              dict(params=[p for p in params if p.ndim <= 1], always_adapt=False)]
    return Lars(groups, lr=lr, momentum=0.9, weight_decay=weight_decay, trust_coeff=0.001)


# ---------------------------------------------------------------- batches of frozen features


def image_batches(vit, data, cfg: FrozenConfig, device, n_last: int, tokens: bool) -> Callable[[], Iterator]:
    """Per epoch: one frozen forward per batch -> (features, labels); ``tokens``: the last block's patch tokens."""
    dtype = cfg.amp_dtype(device)
    ctx = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else (lambda: torch.autocast(device.type,
                                                                                                  enabled=False))

    def epoch():
        for imgs, labels in data:
            with torch.no_grad(), ctx():
                blocks = last_blocks(vit, imgs.to(device, non_blocking=True), n_last)
                feats = dict(tokens=blocks[-1][:, 1:].float()) if tokens else summarize(blocks)
            yield feats, labels.to(device)
    return epoch


def num_steps(n: int, batch_size: int) -> int:
    """Full batches in one pass over ``n`` stored features (at least one)."""
    return max(1, n // batch_size)


def tensor_batches(split: dict, batch_size: int, seed: int, device, keys: tuple[str, ...]) -> Callable[[], Iterator]:
    """Per epoch: shuffled minibatches of stored features (feature sets, or the grid on cached features)."""
    gen = torch.Generator().manual_seed(seed)
    n = len(split["labels"])

    def epoch():
        order = torch.randperm(n, generator=gen)
        for start in range(0, n - batch_size + 1 if n >= batch_size else 1, batch_size):
            idx = order[start:start + batch_size]
            yield {k: split[k][idx].to(device) for k in keys}, split["labels"][idx].to(device)
    return epoch


def eval_batches(split: dict, batch_size: int, device, keys: tuple[str, ...]) -> Iterator:
    """Every stored feature once, in order (evaluation)."""
    for start in range(0, len(split["labels"]), batch_size):
        sl = slice(start, start + batch_size)
        yield {k: split[k][sl].to(device) for k in keys}, split["labels"][sl].to(device)


def fit(probe: nn.Module, optimizer, batches: Callable[[], Iterator], steps: int, cfg: FrozenConfig, base_lr: float,
        warmup_epochs: float = 0.0) -> float:
    """Train ``probe`` for ``cfg.epochs`` of ``steps`` iterations (capped at ``cfg.iters_per_epoch``) with a
    per-step cosine schedule (warmup then to 0); the loss is the sum over the probe's outputs. -> train seconds."""
    t0 = time.time()
    n_iter = min(steps, cfg.iters_per_epoch or steps)
    probe.train()
    for epoch in range(cfg.epochs):
        torch.manual_seed(cfg.seed * 1009 + epoch)
        for it, (feats, labels) in zip(range(n_iter), batches()):
            set_lr(optimizer, cosine_lr(epoch + it / n_iter, base_lr, 0.0, warmup_epochs, cfg.epochs))
            loss = grid_loss(probe(feats), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        log.info("epoch %d/%d: loss %.4f", epoch + 1, cfg.epochs, float(loss))
    return time.time() - t0


@torch.no_grad()
def accuracy(probe: nn.Module, batches: Iterator) -> dict[str, float]:
    """Top-1 (%) of every output of ``probe`` over ``batches``."""
    probe.eval()
    hits: dict[str, int] = {}
    total = 0
    for feats, labels in batches:
        for key, logits in probe(feats).items():
            hits[key] = hits.get(key, 0) + int((logits.argmax(1) == labels).sum())
        total += len(labels)
    return {k: 100.0 * v / max(total, 1) for k, v in hits.items()}


# ---------------------------------------------------------------- runs


def grid_metrics(acc: dict[str, float]) -> tuple[dict, str]:
    best = max(acc, key=lambda k: (acc[k], k))
    return {"top1": acc[best], **{f"top1_{k}": v for k, v in sorted(acc.items())}}, best


def run_grid(run: Run, cfg: FrozenConfig, root: Path, device, fset: dict | None,
             num_classes: int) -> tuple[dict, dict]:
    """Train the grid; -> (metrics, extra record fields)."""
    n_last = max(cfg.n_last_blocks)
    inputs = grid_inputs(cfg.n_last_blocks, cfg.pools)
    vit = None
    if fset is not None:
        train, val = fset["train"], fset["val"]
    else:
        vit, _ = build_encoder(cfg, run.ckpt, device)
        train = cached_features(vit, run.init.sha256, root, "train", cfg, device) if cfg.grid_on_features else None
        val = cached_features(vit, run.init.sha256, root, "val", cfg, device)
    torch.manual_seed(cfg.seed)
    probe = LinearGrid({k: val[k][:2] for k in ("cls", "avg")}, inputs, list(cfg.learning_rates), num_classes)
    probe.to(device)
    if train is not None:
        batches = tensor_batches(train, cfg.batch_size, cfg.seed, device, ("cls", "avg"))
        steps = num_steps(len(train["labels"]), cfg.batch_size)
    else:
        data = loader(root, "train", train_transform(cfg), cfg.batch_size, cfg, True)
        batches, steps = image_batches(vit, data, cfg, device, n_last, tokens=False), len(data)
    train_s = fit(probe, probe.optimizer(cfg.batch_size), batches, steps, cfg, base_lr=1.0)
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
        vit, _ = build_encoder(cfg, run.ckpt, device)
        data = loader(root, "train", train_transform(cfg), cfg.batch_size, cfg, True)
        train, steps = image_batches(vit, data, cfg, device, 1, tokens=True), len(data)
        val = image_batches(vit, loader(root, "val", eval_transform(cfg.input_size, cfg.eval_crop_pct),
                                        cfg.eval_batch_size, cfg, False), cfg, device, 1, tokens=True)
        dim = vit.embed_dim
    torch.manual_seed(cfg.seed)
    probe = EfficientProbe(dim, num_classes, cfg.num_queries).to(device)
    opt = lars(probe, lr, cfg.weight_decay) if cfg.optimizer == "lars" else torch.optim.SGD(
        probe.parameters(), lr=lr, momentum=0.9, weight_decay=cfg.weight_decay)
    train_s = fit(probe, opt, train, steps, cfg, base_lr=lr, warmup_epochs=cfg.warmup_epochs)
    top1 = accuracy(probe, val())["attentive"]
    log.info("attentive: top-1 %.2f", top1)
    return dict(top1=top1), dict(num_queries=cfg.num_queries, abs_lr=lr, train_time_s=train_s)


def run(run: Run) -> Outcome:
    """``--task linprobe_grid`` or ``--task attentive`` on ``--data-root`` (images or ``features.pt``)."""
    single_process()
    cfg, device = run.cfg, torch.device(run.device)
    run.work_dir.mkdir(parents=True, exist_ok=True)
    root = data_root(run.args, cfg, run.work_dir)
    fset = load_feature_set(root)
    classes = feature_set_classes(fset) if fset is not None else build_imagefolder(root, "train", None).classes
    task = run_grid if run.args.task == "linprobe_grid" else run_attentive
    metrics, extra = task(run, cfg, root, device, fset, len(classes))
    return Outcome(metrics, cfg.model, dataset_label(cfg, classes), seed=cfg.seed,
                   extra=dict(epochs=cfg.epochs, iters_per_epoch=cfg.iters_per_epoch, batch_size=cfg.batch_size,
                              **extra))
