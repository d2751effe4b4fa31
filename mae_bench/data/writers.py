"""Write synthetic scenes to disk in a dataset layout. Each format has one writer function.

``WRITERS[format](out_dir, num, size, seed)``; later formats (``coco``, ``ade20k``) register here.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from PIL import Image
from tqdm import tqdm

from .synthetic import SHAPES, make_scene, scene_indices

WRITERS: dict[str, Callable] = {}


def register_writer(name: str):
    def deco(fn):
        WRITERS[name] = fn
        return fn
    return deco


def save_jpeg(array, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(array).save(tmp, format="JPEG", quality=95)
    os.replace(tmp, path)


@register_writer("imagefolder")
def write_imagefolder(out: str | Path, num: int, size: int, seed: int = 0, progress: bool = True) -> Path:
    """ImageNet layout: ``train/<class>/<i>.jpg`` and ``val/<class>/<i>.jpg``; class = largest shape."""
    out = Path(out)
    for split in ("train", "val"):
        for c in SHAPES:  # every class folder exists in both splits, as in ImageNet
            (out / split / c).mkdir(parents=True, exist_ok=True)
        for i in tqdm(scene_indices(num, split), desc=f"imagefolder/{split}", disable=not progress, leave=False):
            scene = make_scene(seed, i, size)
            save_jpeg(scene.image, out / split / SHAPES[scene.label] / f"{i:06d}.jpg")
    return out


MARKER = "MAE_BENCH_SYNTHETIC"


def write_dataset(fmt: str, out: str | Path, num: int, size: int, seed: int = 0, progress: bool = True) -> Path:
    """Write ``num`` scenes in format ``fmt``; a marker file tells later readers the set is synthetic."""
    if fmt not in WRITERS:
        raise KeyError(f"unknown --format {fmt!r}; known: {', '.join(WRITERS)}")
    root = Path(WRITERS[fmt](out, num, size, seed, progress=progress))
    (root / MARKER).write_text(f"format={fmt} num={num} size={size} seed={seed}\n")
    return root


def dataset_label(root: str | Path | None, real_name: str) -> str:
    """Record label of a dataset root: ``synthetic_<format>`` for mae-bench's scenes, else ``real_name``."""
    marker = Path(root) / MARKER if root else None
    if marker is None or not marker.is_file():
        return real_name
    fields = dict(kv.split("=", 1) for kv in marker.read_text().split())
    return f"synthetic_{fields.get('format', 'scenes')}"
