"""``--task ade20k_linear``: frozen dense probe on ADE20K (or the synthetic ADE20K-layout set) through mmseg.

    tools/transfer.py --task ade20k_linear --ckpt PATH --gpus 8 --data-root /datasets/ADEChallengeData2016 \
        --config configs/ade20k_linear/vit_b.py

The frozen encoder (``backbones.linear_seg.FrozenMAEViTSeg``) feeds its normed last-block patch features to a
BatchNorm + 1x1 conv head (``LinearBNHead``); the rest is the UperNet task's machinery (``ade20k``: inputs, data and
label checks, synthetic set, the real mmseg Runner and ``IoUMetric``). The record holds ``mIoU``, ``aAcc`` and
``mAcc`` like ``--task ade20k``.
"""
from __future__ import annotations

from . import ade20k
from .ade20k import (METRICS, REPO, dataset, run_segmentation as run, set_inputs, set_options,  # noqa: F401
                     use_data)

DEFAULT_CONFIG = REPO / "configs" / "ade20k_linear" / "quick.py"


def load_config(args):
    """The mmengine config (``--config``, default ``configs/ade20k_linear/quick.py``) -> (config, path)."""
    return ade20k.load_config(args, DEFAULT_CONFIG)
