"""``--task knn``: weighted k-NN on frozen features (dinov2's protocol), cls token and mean-pooled patch tokens.

    tools/transfer.py --task knn --ckpt PATH --config configs/knn/vit_b.py --data-root /datasets/imagenet

The vote is ``mae_bench.evaluation.knn`` (dinov2 ``dinov2/eval/knn.py``, commit 81b2b64), with k in
{10, 20, 100, 200}, micro-averaged top-1 / top-5; their feature is the cls token, we also report the
mean of the last block's patch tokens (``avg``). Train features are computed once (eval transform) and
cached per (checkpoint sha256, dataset, transform); ``knn_chunk`` train rows go to the device at a time.

Record metrics: ``top1_{cls,avg}_k{K}``, ``top5_{cls,avg}_k{K}`` and ``top1`` / ``top5`` = cls, k = 20
(dinov2's usual pick).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from ..data import build_imagefolder
from ..evaluation.knn import knn_metrics
from ..results import make_record, now_iso
from .frozen import (build_encoder, cached_features, check_data, data_root, feature_set_classes, load_feature_set,
                     load_frozen_config, pick_device, record_labels)

log = logging.getLogger("mae_bench.knn")


def features_for(args, cfg, root: Path, device: torch.device) -> tuple[dict, dict, list, str]:
    """(train features, val features, class names, summary) from a feature set or from images."""
    fset = load_feature_set(root)
    if fset is not None:
        return fset["train"], fset["val"], feature_set_classes(fset), f"feature set {root}"
    vit, summary = build_encoder(cfg, args.ckpt, device)
    train = cached_features(vit, args.ckpt, root, "train", cfg, device)
    val = cached_features(vit, args.ckpt, root, "val", cfg, device)
    return train, val, build_imagefolder(root, "train", None).classes, summary


def run(args) -> dict:
    """k-NN of ``args.ckpt`` on ``--data-root`` (or the synthetic set); returns the record."""
    started, t0 = now_iso(), time.time()
    cfg, cfg_path, options = load_frozen_config(args)
    device = pick_device(cfg)
    work_dir = Path(args.work_dir or f"work_dirs/knn_{cfg_path.stem}")
    work_dir.mkdir(parents=True, exist_ok=True)
    root = data_root(args, cfg, work_dir)
    dataset = check_data(args, cfg, root)
    labels = record_labels(args)
    train, val, classes, summary = features_for(args, cfg, root, device)
    log.info("knn: %s; %d train / %d val features", summary, len(train["labels"]), len(val["labels"]))
    metrics = knn_metrics(train, val, list(cfg.nb_knn), cfg.temperature, cfg.knn_chunk, device)
    log.info("knn top-1 (cls, k=20): %.2f", metrics["top1"])
    return make_record("knn", dataset, metrics, model=cfg.model, **labels,
                       ckpt=args.ckpt if args.ckpt != "random" else None, config=str(cfg_path), cfg_options=options,
                       seed=cfg.seed, world_size=1, started=started, wall_time_s=time.time() - t0,
                       nb_knn=list(cfg.nb_knn), temperature=cfg.temperature, num_train=len(train["labels"]),
                       num_val_images=len(val["labels"]), work_dir=str(work_dir))
