"""``--task ade20k_linear``: frozen dense probe on ADE20K (or the synthetic ADE20K-layout set) through mmseg.

    tools/transfer.py --task ade20k_linear --ckpt PATH --gpus 8 --data-root /datasets/ADEChallengeData2016 \
        --config configs/ade20k_linear/vit_b.py

The frozen encoder (``backbones.linear_seg.FrozenMAEViTSeg``) feeds its normed last-block patch features to a
BatchNorm + 1x1 conv head (``LinearBNHead``); the rest is the UperNet task's machinery (``ade20k.run_segmentation``, ``prepare``:
checkpoint, data and label checks, synthetic set; ``ade20k.train_and_evaluate``: the real mmseg Runner and
``IoUMetric``). The record holds ``mIoU``, ``aAcc`` and ``mAcc`` like ``--task ade20k``.
"""
from __future__ import annotations

from .ade20k import REPO, run_segmentation

DEFAULT_CONFIG = REPO / "configs" / "ade20k_linear" / "quick.py"


def run(args) -> dict | None:
    """Train the linear head on the frozen encoder and evaluate; the record on rank 0, None elsewhere."""
    return run_segmentation(args, "ade20k_linear", DEFAULT_CONFIG)
