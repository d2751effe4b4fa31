"""``--task ade20k_linear``: frozen dense probe on ADE20K (or the synthetic ADE20K-layout set) through mmseg.

    tools/transfer.py --task ade20k_linear --ckpt PATH --gpus 8 --data-root /datasets/ADEChallengeData2016 \
        --config configs/ade20k_linear/vit_b.py

The frozen encoder (``backbones.linear_seg.FrozenMAEViTSeg``) feeds its normed last-block patch features to a
BatchNorm + 1x1 conv head (``LinearBNHead``); the rest is the UperNet task's machinery (``ade20k.prepare``:
checkpoint, data and label checks, synthetic set; ``ade20k.train_and_evaluate``: the real mmseg Runner and
``IoUMetric``). The record holds ``mIoU``, ``aAcc`` and ``mAcc`` like ``--task ade20k``.
"""
from __future__ import annotations

import time
from pathlib import Path

from ..data.writers import dataset_label
from ..results import make_record, now_iso
from .ade20k import METRICS, MODEL_NAMES, REPO, _datasets, prepare, train_and_evaluate
from .mm_common import checkpoint_labels, metrics_from, parse_cfg_options

DEFAULT_CONFIG = REPO / "configs" / "ade20k_linear" / "quick.py"


def run(args) -> dict | None:
    """Train the linear head on the frozen encoder and evaluate; the record on rank 0, None elsewhere."""
    started, t0 = now_iso(), time.time()
    config = Path(args.config or DEFAULT_CONFIG)
    ckpt = None if args.ckpt in (None, "", "random") else args.ckpt
    if ckpt and not Path(ckpt).is_file():
        raise FileNotFoundError(f"--ckpt {ckpt} does not exist")
    labels = checkpoint_labels(ckpt, args.init, args.pretrain_method)
    work_dir = Path(args.work_dir or f"work_dirs/ade20k_linear/{config.stem}_{labels['init']}")
    cfg = prepare(args, config, work_dir)
    raw, rank, world = train_and_evaluate(cfg, args.ms_flip)
    if rank != 0:
        return None
    metrics = {k: round(v, 4) for k, v in metrics_from(raw, METRICS).items()}
    model = MODEL_NAMES.get(int(cfg.model.backbone.embed_dim), f"vit-{cfg.model.backbone.embed_dim}d")
    config_name = str(config.resolve().relative_to(REPO)) if config.resolve().is_relative_to(REPO) else str(config)
    return make_record(task="ade20k_linear", dataset=dataset_label(_datasets(cfg)[0]["data_root"], "ade20k"),
                       metrics=metrics, model=model, ckpt=ckpt, config=config_name,
                       cfg_options=parse_cfg_options(args.cfg_options), seed=args.seed, world_size=world,
                       started=started, wall_time_s=time.time() - t0,
                       test_mode="ms_flip" if args.ms_flip else "single_scale", **labels)
