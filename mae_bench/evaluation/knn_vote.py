"""Weighted k-NN on frozen features (dinov2's protocol): the task ``--task knn`` and the pretraining monitors.

Reference: facebookresearch/dinov2 ``dinov2/eval/knn.py`` (commit 81b2b64): features L2-normalised, cosine
similarity to every train feature, the k nearest vote with weights softmax(similarity / T), T = 0.07. The
similarity runs block by block over the train bank (``chunk`` rows on the device at a time, keeping a running
top-k), so ImageNet-size banks fit.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

PRIMARY = ("cls", 20)


@torch.no_grad()
def knn_topk(train: torch.Tensor, test: torch.Tensor, k: int, chunk: int, device: torch.device,
             query_batch: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` cosine similarities and train indices of every test row -> ([M, k], [M, k]) on ``device``.

    ``train`` [N, D] and ``test`` [M, D] are L2-normalised here. The train bank goes to ``device`` once, as
    blocks of ``chunk`` rows; the queries run ``query_batch`` at a time, each merging a running top-k over the
    blocks, so no [M, N] matrix is ever formed.
    """
    bank = [F.normalize(block.float(), dim=1).to(device) for block in train.split(chunk)]
    starts = [0]
    for block in bank[:-1]:
        starts.append(starts[-1] + len(block))
    sims_out, idx_out = [], []
    for query in test.split(query_batch):
        query = F.normalize(query.float(), dim=1).to(device)
        best_sim = torch.empty((len(query), 0), device=device)
        best_idx = torch.empty((len(query), 0), dtype=torch.long, device=device)
        for start, block in zip(starts, bank):
            sims = torch.cat([best_sim, query @ block.T], dim=1)
            ids = torch.arange(start, start + len(block), device=device).expand(len(query), -1)
            best_sim, pos = sims.topk(min(k, sims.shape[1]), dim=1)
            best_idx = torch.cat([best_idx, ids], dim=1).gather(1, pos)
        sims_out.append(best_sim)
        idx_out.append(best_idx)
    return torch.cat(sims_out), torch.cat(idx_out)


def knn_vote(sims: torch.Tensor, neighbour_labels: torch.Tensor, k: int, temperature: float,
             num_classes: int) -> torch.Tensor:
    """Class scores [M, C] of the first ``k`` neighbours weighted by softmax(sim / T) over all retrieved
    neighbours (as dinov2: the softmax runs over max-k, the sum over the first k)."""
    weights = torch.softmax(sims / temperature, dim=1)[:, :k]
    onehot = F.one_hot(neighbour_labels[:, :k], num_classes).float()
    return (onehot * weights[..., None]).sum(dim=1)


def knn_accuracy(train_feat: torch.Tensor, train_labels: torch.Tensor, test_feat: torch.Tensor,
                 test_labels: torch.Tensor, ks: list[int], temperature: float = 0.07, chunk: int = 65536,
                 device: torch.device | str = "cpu", query_batch: int = 1024) -> dict[int, tuple[float, float]]:
    """Top-1 / top-5 accuracy (%) of the weighted k-NN for every k in ``ks``."""
    device = torch.device(device)
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    sims, idx = knn_topk(train_feat, test_feat, max(ks), chunk, device, query_batch)
    nb_labels = train_labels.to(device)[idx]
    target = test_labels.to(device)
    out = {}
    for k in ks:
        scores = knn_vote(sims, nb_labels, min(k, sims.shape[1]), temperature, num_classes)
        top = scores.topk(min(5, num_classes), dim=1).indices
        hit = top.eq(target[:, None])
        out[k] = (100.0 * hit[:, 0].float().mean().item(), 100.0 * hit.any(dim=1).float().mean().item())
    return out


def knn_metrics(train: dict, val: dict, ks: list[int], temperature: float, chunk: int, device) -> dict:
    """Every (feature, k) accuracy as record metrics; ``top1``/``top5`` = cls token at k = 20 (or the k nearest)."""
    metrics = {}
    for name in ("cls", "avg"):
        tr = train["cls"][:, -1] if name == "cls" else train["avg"]
        te = val["cls"][:, -1] if name == "cls" else val["avg"]
        for k, (t1, t5) in knn_accuracy(tr, train["labels"], te, val["labels"], ks, temperature, chunk,
                                        device).items():
            metrics[f"top1_{name}_k{k}"], metrics[f"top5_{name}_k{k}"] = t1, t5
    k = PRIMARY[1] if PRIMARY[1] in ks else min(ks, key=lambda x: abs(x - PRIMARY[1]))
    metrics["top1"], metrics["top5"] = metrics[f"top1_cls_k{k}"], metrics[f"top5_cls_k{k}"]
    return metrics
