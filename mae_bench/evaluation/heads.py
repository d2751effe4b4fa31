"""Heads trained on frozen features: the linear grid (dinov2 ``eval/linear.py``), the efficient attentive probe,
and the loop that trains and scores them, shared by ``--task linprobe_grid`` / ``--task attentive`` and the
pretraining monitors.

A batch is ``(feats, labels)`` with ``feats`` a dict of tensors (``cls`` [N, n, D], ``avg`` [N, D] from
``features.summarize``, or ``tokens`` [N, L, D]); a head maps ``feats`` to ``{name: logits}``.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..engine.optim import cosine_lr, set_lr
from ..errors import ConfigError

log = logging.getLogger("mae_bench.probes")


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


def fit(probe: nn.Module, optimizer, batches: Callable[[], Iterator], steps: int, epochs: int, base_lr: float,
        seed: int, iters_per_epoch: int | None = None, warmup_epochs: float = 0.0) -> float:
    """Train ``probe`` for ``epochs`` of ``steps`` iterations (capped at ``iters_per_epoch``) with a per-step
    cosine schedule (warmup then to 0); the loss is the sum over the probe's outputs. -> train seconds."""
    t0 = time.time()
    n_iter = min(steps, iters_per_epoch or steps)
    probe.train()
    for epoch in range(epochs):
        torch.manual_seed(seed * 1009 + epoch)
        for it, (feats, labels) in zip(range(n_iter), batches()):
            set_lr(optimizer, cosine_lr(epoch + it / n_iter, base_lr, 0.0, warmup_epochs, epochs))
            loss = grid_loss(probe(feats), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        log.info("epoch %d/%d: loss %.4f", epoch + 1, epochs, float(loss))
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


def grid_metrics(acc: dict[str, float]) -> tuple[dict, str]:
    best = max(acc, key=lambda k: (acc[k], k))
    return {"top1": acc[best], **{f"top1_{k}": v for k, v in sorted(acc.items())}}, best
