"""The synthetic scenes in the ADE20K layout (``tools/make_synthetic.py --format ade20k``).

Layout of ADEChallengeData2016::

    images/{training,validation}/<i>.jpg        RGB
    annotations/{training,validation}/<i>.png   uint8 labels, 0 = ignore, 1..len(SEMANTIC_CLASSES) classes

mmseg reads it with ``reduce_zero_label=True`` (0 -> 255 ignore, k -> k - 1), as for ADE20K.
Scene ``i`` is the same scene as in the other formats (``make_scene(seed, i, size)``): its background kind and
1-5 shapes give 2-6 of the 9 classes per label map, with a 1-pixel ignore band on one side of every border.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from .imagefolder import DataError
from .synthetic import SEMANTIC_CLASSES, make_scene, scene_indices
from .writers import register_writer, save_jpeg

SPLITS = {"train": "training", "val": "validation"}


def save_png(array: np.ndarray, path: Path) -> None:
    """Write a uint8 [H, W] label map as a single-channel PNG (atomic rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(array.astype(np.uint8)).save(tmp, format="PNG")
    os.replace(tmp, path)


@register_writer("ade20k")
def write_ade20k(out: str | Path, num: int, size: int, seed: int = 0, progress: bool = True) -> Path:
    """Write ``num`` scenes (80 % training, 20 % validation) of ``size`` px; returns ``out``."""
    out = Path(out)
    for split, folder in SPLITS.items():
        for i in tqdm(scene_indices(num, split), desc=f"ade20k/{folder}", disable=not progress, leave=False):
            scene = make_scene(seed, i, size)
            save_jpeg(scene.image, out / "images" / folder / f"{i:06d}.jpg")
            save_png(scene.semantic, out / "annotations" / folder / f"{i:06d}.png")
    return out


def check_labels(ann_dir: str | Path, num_classes: int = len(SEMANTIC_CLASSES)) -> int:
    """Check every ``*.png`` of ``ann_dir`` holds values in 0..num_classes (0 = ignore); returns the file count.

    A missing folder raises FileNotFoundError, a value out of range a ValueError, each naming the path.
    """
    ann_dir = Path(ann_dir)
    if not ann_dir.is_dir():
        raise FileNotFoundError(f"annotation folder {ann_dir} does not exist")
    files = sorted(ann_dir.glob("*.png"))
    if not files:
        raise FileNotFoundError(f"annotation folder {ann_dir} holds no *.png label maps")
    with ThreadPoolExecutor(max_workers=8) as pool:  # PNG decoding releases the GIL; ADE20K has 22k maps
        for f, top in zip(files, pool.map(max_label, files)):
            if top > num_classes:
                raise DataError(f"label map {f} has value {top}; expected 0 (ignore) .. {num_classes}")
    return len(files)


def max_label(path: Path) -> int:
    """Largest value of a single-channel label map."""
    with Image.open(path) as im:
        return int(np.asarray(im).max())
