"""``--task knn``: weighted k-NN on frozen features (dinov2's protocol), cls token and mean-pooled patch tokens.

    tools/transfer.py --task knn --ckpt PATH --config configs/knn/vit_b.py --data-root /datasets/imagenet

Reference: facebookresearch/dinov2 ``dinov2/eval/knn.py`` (commit 81b2b64): features L2-normalised, cosine
similarity to every train feature, the k nearest vote with weights softmax(similarity / T), T = 0.07,
k in {10, 20, 100, 200}, micro-averaged top-1 / top-5; their feature is the cls token, we also report the
mean of the last block's patch tokens (``avg``). Train features are computed once (eval transform) and
cached per (checkpoint sha256, dataset, transform); the similarity runs block by block over the train bank
(``knn_chunk`` rows on the device at a time, keeping a running top-k), so ImageNet-size banks fit.

Record metrics: ``top1_{cls,avg}_k{K}``, ``top5_{cls,avg}_k{K}`` and ``top1`` / ``top5`` = cls, k = 20
(dinov2's usual pick).
"""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from ..data import build_imagefolder
from .frozen import (build_encoder, cached_features, data_kind, data_root, dataset_label,  # noqa: F401
                     feature_set_classes, load_config, load_feature_set, set_options, single_process)
from .skeleton import Outcome, Run

log = logging.getLogger("mae_bench.knn")
METRICS = ("top1", "top5")
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


def features_for(run: Run, device: torch.device) -> tuple[dict, dict, list, str]:
    """(train features, val features, class names, summary) from a feature set or from images."""
    root = data_root(run.args, run.cfg, run.work_dir)
    fset = load_feature_set(root)
    if fset is not None:
        return fset["train"], fset["val"], feature_set_classes(fset), f"feature set {root}"
    vit, summary = build_encoder(run.cfg, run.ckpt, device)
    train = cached_features(vit, run.init.sha256, root, "train", run.cfg, device)
    val = cached_features(vit, run.init.sha256, root, "val", run.cfg, device)
    return train, val, build_imagefolder(root, "train", None).classes, summary


def run(run: Run) -> Outcome:
    """k-NN of the init on ``--data-root`` (or the synthetic set)."""
    single_process()
    cfg, device = run.cfg, torch.device(run.device)
    run.work_dir.mkdir(parents=True, exist_ok=True)
    train, val, classes, summary = features_for(run, device)
    log.info("knn: %s; %d train / %d val features", summary, len(train["labels"]), len(val["labels"]))
    metrics = knn_metrics(train, val, list(cfg.nb_knn), cfg.temperature, cfg.knn_chunk, device)
    log.info("knn top-1 (cls, k=20): %.2f", metrics["top1"])
    return Outcome(metrics, cfg.model, dataset_label(cfg, classes), seed=cfg.seed,
                   extra=dict(nb_knn=list(cfg.nb_knn), temperature=cfg.temperature, num_train=len(train["labels"]),
                              num_val_images=len(val["labels"])))
