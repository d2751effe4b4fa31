"""Datasets: ImageFolder pipelines, the dataset check (``check``), the synthetic scene generator and its writers."""
from . import (
    ade20k,  # noqa: F401  (registers the 'ade20k' writer)
    coco,  # noqa: F401  (registers the 'coco' writer)
)
from .errors import DataError
from .imagefolder import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CheckedImageFolder,
    build_imagefolder,
    check_same_classes,
    eval_transform,
    pretrain_transform,
)
from .synthetic import (
    CROP_SCALE,
    POOL_START,
    SEMANTIC_CLASSES,
    SHAPES,
    STUFF,
    Scene,
    make_scene,
    scene_indices,
    split_indices,
)
from .writers import WRITERS, register_writer, write_dataset

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "CheckedImageFolder", "DataError", "build_imagefolder",
           "check_same_classes", "eval_transform", "pretrain_transform", "SEMANTIC_CLASSES", "SHAPES", "STUFF",
           "Scene", "make_scene", "scene_indices", "split_indices", "CROP_SCALE", "POOL_START",
           "WRITERS", "register_writer", "write_dataset"]
