"""Pieces the baseline methods share: the encoder variant of a ``--model`` name and the dataset's classes."""
from __future__ import annotations

from pathlib import Path

from ..data import SHAPES, DataError
from ..errors import ConfigError
from ..models import MODEL_NAMES
from ..models.vit import VARIANTS, vit_kwargs


def encoder_kwargs(cfg) -> dict:
    """``VisionTransformer`` kwargs for ``cfg.model`` (an MAE model name such as ``mae_vit_base_patch16``):
    the same encoder the MAE run would train, at ``cfg.input_size``, with ``cfg.drop_path``."""
    name = cfg.model
    variant = MODEL_NAMES.get(name) or (name[len("mae_vit_"):] if name.startswith("mae_vit_") else None)
    if variant not in VARIANTS:
        raise ConfigError(f"unknown --model {name!r}; known: {', '.join(MODEL_NAMES)}")
    return vit_kwargs(variant, patch_size=cfg.patch_size, img_size=cfg.input_size, drop_path_rate=cfg.drop_path)


def num_classes(cfg) -> int:
    """Class folders of ``<data_path>/train`` (ImageNet layout); the built-in synthetic set has ``SHAPES``."""
    if cfg.data_path is None:
        return len(SHAPES)
    root = Path(cfg.data_path) / "train"
    if not root.is_dir():
        raise DataError(f"{root} is missing: expected the ImageNet layout {cfg.data_path}/train/<class>/*.jpg")
    classes = [p for p in root.iterdir() if p.is_dir()]
    if len(classes) < 2:
        raise DataError(f"{root} has {len(classes)} class folder(s); supervised pretraining needs at least 2")
    return len(classes)
