"""``--task ade20k_linear``: frozen dense probe on ADE20K (or the synthetic ADE20K-layout set) through mmseg.

    tools/transfer.py --task ade20k_linear --ckpt PATH --gpus 8 --data-root /datasets/ADEChallengeData2016 \
        --config configs/ade20k_linear/vit_b.py

The frozen encoder (``backbones.linear_seg.FrozenMAEViTSeg``) feeds its normed last-block patch features to a
BatchNorm + 1x1 conv head (``LinearBNHead``); the rest is the UperNet task's machinery (``ade20k.ADE20KTask``:
inputs, data and label checks, synthetic set, the real mmseg Runner and ``IoUMetric``). The record holds ``mIoU``,
``aAcc`` and ``mAcc`` like ``--task ade20k``.
"""
from __future__ import annotations

from .ade20k import ADE20KTask


class ADE20KLinearTask(ADE20KTask):
    """``--task ade20k_linear``: the ``ade20k`` task's steps with the frozen probe's config
    (``configs/ade20k_linear/quick.py`` by default)."""
    name = "ade20k_linear"
