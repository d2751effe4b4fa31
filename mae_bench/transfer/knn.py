"""``--task knn``: weighted k-NN on frozen features (dinov2's protocol), cls token and mean-pooled patch tokens.

    tools/transfer.py --task knn --ckpt PATH --config configs/knn/vit_b.py --data-root /datasets/imagenet

The vote is ``mae_bench.evaluation.knn_vote`` (dinov2 ``dinov2/eval/knn.py``, commit 81b2b64), with k in
{10, 20, 100, 200}, micro-averaged top-1 / top-5; their feature is the cls token, we also report the
mean of the last block's patch tokens (``avg``). Train features are computed once (eval transform) and
cached per (checkpoint sha256, dataset, transform); ``knn_chunk`` train rows go to the device at a time.

Record metrics: ``top1_{cls,avg}_k{K}``, ``top5_{cls,avg}_k{K}`` and ``top1`` / ``top5`` = cls, k = 20
(dinov2's usual pick).
"""
from __future__ import annotations

import logging

import torch

from ..data import build_imagefolder
from ..evaluation.knn_vote import knn_metrics
from .frozen import FrozenTask, build_encoder, cached_features, feature_set_classes, load_feature_set, start
from .task import Outcome, Run

log = logging.getLogger("mae_bench.knn")


def features_for(run: Run, root, device: torch.device) -> tuple[dict, dict, list, str]:
    """(train features, val features, class names, summary) from a feature set or from images."""
    fset = load_feature_set(root)
    if fset is not None:
        return fset["train"], fset["val"], feature_set_classes(fset), f"feature set {root}"
    vit, summary = build_encoder(run.cfg, run.checkpoint.file, device)
    train = cached_features(vit, run.checkpoint.sha256, root, "train", run.cfg, device)
    val = cached_features(vit, run.checkpoint.sha256, root, "val", run.cfg, device)
    return train, val, build_imagefolder(root, "train", None).classes, summary


class KnnTask(FrozenTask):
    """``--task knn``: weighted k-NN of frozen features (dinov2's protocol)."""
    name = "knn"
    metrics = ("top1", "top5")

    def run(self, run: Run) -> Outcome:
        """k-NN of the init on ``--data-root`` (or the synthetic set)."""
        cfg, device, root, dataset_label = start(run)
        train, val, classes, summary = features_for(run, root, device)
        log.info("knn: %s; %d train / %d val features", summary, len(train["labels"]), len(val["labels"]))
        above = [k for k in cfg.nb_knn if k > len(train["labels"])]
        if above:  # the record says so too: its num_train is below these k
            log.warning("nb_knn %s: above the %d training images, so these votes use all %d neighbours",
                        above, len(train["labels"]), len(train["labels"]))
        metrics = knn_metrics(train, val, list(cfg.nb_knn), cfg.temperature, cfg.knn_chunk, device)
        log.info("knn top-1 (cls, k=20): %.2f", metrics["top1"])
        return Outcome(metrics, cfg.model, dataset_label, seed=cfg.seed,
                       extra=dict(nb_knn=list(cfg.nb_knn), temperature=cfg.temperature, num_train=len(train["labels"]),
                                  num_val_images=len(val["labels"])))
