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
from pathlib import Path

import numpy as np
from PIL import Image

from ..progress import progress_bar
from .synthetic import make_scene, scene_indices
from .writers import register_writer, save_jpeg

SPLITS = {"train": "training", "val": "validation"}


def save_png(array: np.ndarray, path: Path) -> None:
    """Write a uint8 [H, W] label map as a single-channel PNG (atomic rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(array.astype(np.uint8)).save(tmp, format="PNG")
    os.replace(tmp, path)


@register_writer("ade20k")
def write_ade20k(out: str | Path, num: int, size: int, seed: int = 0, progress: bool = True,
                 val: int | None = None) -> Path:
    """Write ``num`` scenes (80 % training, 20 % validation, or ``val`` validation) of ``size`` px; returns
    ``out``."""
    out = Path(out)
    for split, folder in SPLITS.items():
        for i in progress_bar(scene_indices(num, split, val=val), desc=f"ade20k/{folder}", disable=not progress,
                              leave=False):
            scene = make_scene(seed, i, size)
            save_jpeg(scene.image, out / "images" / folder / f"{i:06d}.jpg")
            save_png(scene.semantic, out / "annotations" / folder / f"{i:06d}.png")
    return out
