"""Synthetic scenes written in the COCO 2017 instances layout (``tools/make_synthetic.py --format coco``).

``<out>/train2017/*.jpg``, ``<out>/val2017/*.jpg`` and ``<out>/annotations/instances_{train,val}2017.json``,
exactly the layout of real COCO, so a config runs on either with only ``--data-root`` changed.
Each visible shape is one instance: a compressed RLE of its visible pixels, its bbox ``[x, y, w, h]``
and area from that mask, ``iscrowd`` 0. Categories are ``SHAPES`` with ids 1..6.
A scene (``mae_bench.data.synthetic``) has one dominant shape and up to 4 smaller ones: 2-5 instances per image
(mostly 3-5), of COCO's "small" and "medium" areas at 128 px (the dominant one is "large" from 256 px on), so
AP, APs and APm move.
Images ``1..n_train`` are scenes ``0..n_train-1``; ``--num`` below 12 gives val 20% (no class balance needed).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from ..progress import progress_bar
from .synthetic import SHAPES, make_scene, scene_indices
from .writers import register_writer, save_jpeg

CATEGORIES = [dict(id=i + 1, name=name, supercategory="shape") for i, name in enumerate(SHAPES)]


def encode_mask(mask: np.ndarray) -> dict:
    """bool [H, W] -> compressed COCO RLE ``{"size": [H, W], "counts": str}``."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(size=[int(s) for s in rle["size"]], counts=rle["counts"].decode("ascii"))


def instance_annotation(mask: np.ndarray, category: int, image_id: int, ann_id: int) -> dict:
    """One COCO annotation of a visible-pixel mask; ``category`` is the ``SHAPES`` index."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    x, y, w, h = mask_utils.toBbox(rle).tolist()
    return dict(id=ann_id, image_id=image_id, category_id=category + 1, segmentation=encode_mask(mask),
                area=float(mask.sum()),
                bbox=[float(x), float(y), float(w), float(h)], iscrowd=0)


def coco_split(out: Path, split: str, num: int, size: int, seed: int, progress: bool = True,
               val: int | None = None) -> dict:
    """Write the images of ``split`` ('train' or 'val') and return its COCO annotation dict."""
    images, annotations = [], []
    for i in progress_bar(scene_indices(num, split, val=val), desc=f"coco/{split}", disable=not progress, leave=False):
        scene = make_scene(seed, i, size)
        name = f"{i + 1:012d}.jpg"
        save_jpeg(scene.image, out / f"{split}2017" / name)
        images.append(dict(id=i + 1, file_name=name, height=size, width=size))
        for inst in scene.instances:
            annotations.append(instance_annotation(inst["mask"], inst["category"], i + 1, len(annotations) + 1))
    return dict(info=dict(description=f"mae-bench synthetic scenes, seed {seed}"), licenses=[], images=images,
                annotations=annotations, categories=CATEGORIES)


@register_writer("coco")
def write_coco(out: str | Path, num: int, size: int, seed: int = 0, progress: bool = True,
               val: int | None = None) -> Path:
    """COCO layout of scenes ``0..num-1`` (80% train2017, 20% val2017; or the last ``val`` in val2017)."""
    out = Path(out)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    for split in ("train", "val"):
        data = coco_split(out, split, num, size, seed, progress, val)
        path = out / "annotations" / f"instances_{split}2017.json"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    return out
