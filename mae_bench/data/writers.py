"""Write synthetic scenes to disk in a dataset layout. Each format has one writer function.

``WRITERS[format](out_dir, num, size, seed, progress=..., pool=...)``; ``coco`` and ``ade20k`` register here too.
``imagefolder`` writes the labelled transfer set (scenes ``0..num-1``, every class in every split) and, with
``pool > 0``, the pretraining pool ``pool/train/<class>/`` (scenes from ``POOL_START``: disjoint from every transfer
set, and ``pool`` never changes the transfer set). Pretrain with ``--data_path <out>/pool``.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from PIL import Image

from ..errors import DataError
from ..progress import progress_bar
from .synthetic import SHAPES, make_scene, split_indices

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


def write_classes(root: Path, indices: range, size: int, seed: int, progress: bool = True) -> None:
    """``root/<class>/<index>.jpg`` for the scenes ``indices``; every class folder exists, as in ImageNet."""
    for c in SHAPES:
        (root / c).mkdir(parents=True, exist_ok=True)
    for i in progress_bar(indices, desc=str(root.relative_to(root.parents[1])), disable=not progress, leave=False):
        scene = make_scene(seed, i, size)
        save_jpeg(scene.image, root / SHAPES[scene.label] / f"{i:07d}.jpg")


@register_writer("imagefolder")
def write_imagefolder(out: str | Path, num: int, size: int, seed: int = 0, progress: bool = True,
                      pool: int = 0, val: int | None = None) -> Path:
    """ImageNet layout: ``train/<class>/<i>.jpg``, ``val/<class>/<i>.jpg`` (class = the dominant object, every
    class in both splits) and, with ``pool``, ``pool/train/<class>/<i>.jpg`` (``pool`` scenes for pretraining)."""
    out = Path(out)
    jobs = [(out / split, split_indices(num, split, val=val)) for split in ("train", "val")]
    if pool:
        jobs.append((out / "pool" / "train", split_indices(pool, "pool")))
    for root, indices in jobs:
        write_classes(root, indices, size, seed, progress)
    return out


MARKER = "MAE_BENCH_SYNTHETIC"


def write_dataset(fmt: str, out: str | Path, num: int, size: int, seed: int = 0, progress: bool = True,
                  pool: int = 0, val: int | None = None) -> Path:
    """Write ``num`` scenes in format ``fmt`` (plus a ``pool`` for ImageFolder; ``val`` of them in the val split
    instead of ~20%); marker files (in the root and in ``pool/``) tell later readers the set is synthetic. Bad
    arguments raise ValueError naming the flag."""
    if fmt not in WRITERS:
        raise KeyError(f"unknown --format {fmt!r}; known: {', '.join(WRITERS)}")
    if pool and fmt != "imagefolder":
        raise ValueError(f"--pool is for --format imagefolder only (the pretraining pool), not {fmt!r}")
    extra = (dict(pool=pool) if pool else {}) | (dict(val=val) if val is not None else {})
    root = Path(WRITERS[fmt](out, num, size, seed, progress=progress, **extra))
    text = f"format={fmt} num={num} size={size} seed={seed} pool={pool}" + (f" val={val}" if val is not None else "")
    text += "\n"
    if pool:
        (root / "pool" / MARKER).write_text(text)
    (root / MARKER).write_text(text)
    return root


def write_synthetic_once(fmt: str, root: Path, num: int, size: int, seed: int = 0, timeout_s: float = 600.0) -> Path:
    """Write the synthetic ``fmt`` set at ``root`` unless its marker is there; under torchrun only local rank 0
    writes and the other processes wait for the marker ``write_dataset`` leaves when it has finished."""
    done = Path(root) / MARKER
    if done.is_file():
        return Path(root)
    if int(os.environ.get("LOCAL_RANK", 0)) == 0:
        return write_dataset(fmt, root, num, size, seed, progress=False)
    deadline = time.time() + timeout_s
    while not done.is_file():
        if time.time() > deadline:
            raise DataError(f"synthetic set {root} not written by local rank 0 within {timeout_s:.0f} s")
        time.sleep(0.5)
    return Path(root)
