"""Procedural scenes: coloured shapes on textured backgrounds, with class, instance and semantic labels.

Every dataset format mae-bench writes (ImageFolder, COCO, ADE20K) is drawn from the same scenes:
scene ``i`` of seed ``s`` is a pure function of ``(s, i, size)``, so the formats agree.

Labels of a scene:
- ``label``: the classification class, the category of the largest shape (``SHAPES`` index);
- ``instances``: one entry per shape with ``category`` (``SHAPES`` index), ``polygon`` (flat
  x, y list in pixels) and ``mask`` (visible pixels, bool [H, W]);
- ``semantic``: uint8 [H, W] in the ADE20K convention, 0 = ignore (a thin band on shape borders),
  1..len(STUFF) = background texture, then shapes: ``len(STUFF) + 1 + category``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SHAPES = ("circle", "square", "triangle", "star", "hexagon", "cross")
STUFF = ("gradient", "stripes", "speckle")
SEMANTIC_CLASSES = STUFF + SHAPES  # label value = index + 1; 0 = ignore


@dataclass
class Scene:
    image: np.ndarray  # uint8 [H, W, 3]
    label: int
    instances: list[dict] = field(default_factory=list)
    semantic: np.ndarray | None = None  # uint8 [H, W]


def _polygon(kind: str, cx: float, cy: float, r: float, rot: float) -> list[tuple[float, float]]:
    """Vertices of a shape of radius r centred at (cx, cy), rotated by rot radians."""
    def ring(n, radii):
        return [(cx + radii[i % len(radii)] * math.cos(rot + 2 * math.pi * i / n),
                 cy + radii[i % len(radii)] * math.sin(rot + 2 * math.pi * i / n)) for i in range(n)]
    if kind == "circle":
        return ring(32, [r])
    if kind == "square":
        return ring(4, [r])
    if kind == "triangle":
        return ring(3, [r])
    if kind == "star":
        return ring(10, [r, 0.45 * r])
    if kind == "hexagon":
        return ring(6, [r])
    w = 0.33 * r  # cross: 12 vertices
    pts = [(w, r), (w, w), (r, w), (r, -w), (w, -w), (w, -r), (-w, -r), (-w, -w), (-r, -w), (-r, w), (-w, w), (-w, r)]
    c, s = math.cos(rot), math.sin(rot)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in pts]


def _background(rng: np.random.Generator, size: int, kind: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    if STUFF[kind] == "gradient":
        a = rng.uniform(0, 2 * math.pi)
        t = (np.cos(a) * xx + np.sin(a) * yy + 1.5) / 3
    elif STUFF[kind] == "stripes":
        f, a = rng.uniform(3, 8), rng.uniform(0, math.pi)
        t = 0.5 + 0.5 * np.sin(2 * math.pi * f * (np.cos(a) * xx + np.sin(a) * yy))
    else:
        t = rng.uniform(0, 1, (size, size)).astype(np.float32)
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255)


def make_scene(seed: int, index: int, size: int = 64, max_shapes: int = 3) -> Scene:
    """Scene ``index`` of dataset ``seed`` at ``size`` x ``size`` pixels (deterministic)."""
    rng = np.random.default_rng([seed, index])
    stuff = int(rng.integers(len(STUFF)))
    img = _background(rng, size, stuff)
    semantic = np.full((size, size), 1 + stuff, np.uint8)
    n = int(rng.integers(1, max_shapes + 1))
    shapes, occupancy = [], np.zeros((size, size), np.int16) - 1
    for k in range(n):
        r = size * (rng.uniform(0.22, 0.32) if k == 0 else rng.uniform(0.08, 0.16))
        cx, cy = rng.uniform(r, size - r, 2)
        kind = int(rng.integers(len(SHAPES)))
        poly = _polygon(SHAPES[kind], cx, cy, r, rng.uniform(0, 2 * math.pi))
        m = Image.new("L", (size, size), 0)
        ImageDraw.Draw(m).polygon(poly, fill=255)
        mask = np.asarray(m) > 127
        if mask.sum() < 4:
            continue
        colour = rng.uniform(0, 255, 3)
        shade = 0.75 + 0.25 * np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
        img = np.where(mask[..., None], colour * shade, img)
        occupancy[mask] = len(shapes)
        shapes.append(dict(category=kind, polygon=[float(v) for xy in poly for v in xy]))
        semantic[mask] = 1 + len(STUFF) + kind
    instances = []
    for i, s in enumerate(shapes):
        vis = occupancy == i
        if vis.sum() >= 4:
            instances.append(dict(s, mask=vis))
    edges = np.asarray(Image.fromarray((occupancy + 1).astype(np.uint8)).filter(ImageFilter.FIND_EDGES)) > 0
    semantic[edges] = 0
    largest = max(instances, key=lambda s: s["mask"].sum())
    return Scene(image=np.clip(img, 0, 255).astype(np.uint8), label=largest["category"], instances=instances,
                 semantic=semantic)


def split_counts(num: int, val_fraction: float = 0.2) -> tuple[int, int]:
    """Number of train and val scenes for ``num`` scenes in all."""
    n_val = max(1, int(round(num * val_fraction))) if num > 1 else 0
    return num - n_val, n_val


def scene_indices(num: int, split: str, val_fraction: float = 0.2) -> range:
    """Scene indices of a split: train takes the first scenes, val the rest (same in every format)."""
    n_train, _ = split_counts(num, val_fraction)
    return range(0, n_train) if split == "train" else range(n_train, num)
