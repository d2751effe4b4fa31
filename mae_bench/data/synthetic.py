"""Procedural scenes: one dominant shape plus a few smaller ones on a textured background, with labels.

Every dataset format mae-bench writes is drawn from the same scenes: scene ``i`` of seed ``s`` is a pure
function ``make_scene(s, i, size)``, so the ImageFolder class, the COCO instances and the ADE20K label map of
scene ``i`` describe one picture.

What a scene holds, and why:
- **one dominant object** (circle, square, triangle, star, ring or cross: shapes that differ at 32 px, where a
  hexagon and a circle did not) of class ``index % len(SHAPES)`` (round-robin, so any run of ``k x len(SHAPES)``
  consecutive indices is exactly balanced), radius ``DOMINANT_RADIUS`` (0.28-0.40) of the side, centre in the
  middle half of the image, drawn last (never occluded). Its category is the classification ``label``: the
  object stays the largest visible one under the crops of the classification quick recipes (``CROP_SCALE``;
  ``tests/test_synthetic.py`` measures it over random crops), so the label survives augmentation.
- **2-4 smaller distractors** (fewer when there is no room) of other categories, radius ``SMALL_RADIUS``
  (0.07-0.16) of the side but never below ``MIN_RADIUS_PX`` pixels (so their shape is still readable at 32 px),
  placed around the dominant one (little overlap). They give COCO several instances of two size
  groups per image (at 128 px: COCO "small" and "medium" areas; at 256 px and up the dominant object is "large")
  and ADE20K several classes per label map; the classifier has to tell the large shape from the small ones, not
  only spot a shape.
- **a textured background** ("stuff": gradient, stripes or speckle); object colours keep a contrast of 64-192
  per channel to the background mean, so every object is visible.

Labels of a scene:
- ``label``: the dominant object's category (``SHAPES`` index);
- ``instances``: one entry per visible object, dominant first, with ``category``, ``polygon`` (flat x, y list in
  pixels; a ring's outer border) and ``mask`` (visible pixels, bool [H, W]; a ring's hole excluded);
- ``semantic``: uint8 [H, W] in the ADE20K convention, 0 = ignore (a 1-pixel band on one side of each border),
  1..len(STUFF) = background texture, then objects: ``len(STUFF) + 1 + category``.

Splits (``split_indices``): the labelled transfer sets of ``--num N`` use scenes ``0..N-1`` (train first, val
last, val a multiple of ``len(SHAPES)``); the unlabelled-for-MAE pretraining pool uses scenes from
``POOL_START`` on, so it never overlaps a transfer set and its size never changes one. Sizes below 32 px are
refused (the smallest objects would no longer be smaller than the dominant one).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SHAPES = ("circle", "square", "triangle", "star", "ring", "cross")
STUFF = ("gradient", "stripes", "speckle")
SEMANTIC_CLASSES = STUFF + SHAPES  # label value = index + 1; 0 = ignore
DOMINANT_RADIUS = (0.28, 0.40)  # fraction of the side
SMALL_RADIUS = (0.07, 0.16)  # fraction of the side
MIN_RADIUS_PX = 5.0  # a shape still readable at 32 px
RING_HOLE = 0.55  # inner / outer radius of a ring
NUM_SMALL = (2, 4)  # distractors per scene (inclusive); fewer when there is no room
CROP_SCALE = (0.35, 1.0)  # RandomResizedCrop area range of the classification quick recipes (label survives)
POOL_START = 1_000_000  # first scene index of the pretraining pool; transfer sets use 0..num-1
VAL_FRACTION = 0.2


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
    if kind == "ring":
        return ring(32, [r])  # outer border; the hole (RING_HOLE x r) is cut out of the mask
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


def _dominant(rng: np.random.Generator, size: int) -> tuple[float, float, float]:
    """(cx, cy, r) of the dominant object: centre in the middle half, at most 20% of r past the border."""
    r = size * rng.uniform(*DOMINANT_RADIUS)
    lo, hi = max(0.25 * size, 0.8 * r), min(0.75 * size, size - 0.8 * r)
    cx, cy = rng.uniform(lo, hi, 2)
    return float(cx), float(cy), float(r)


def _small(rng: np.random.Generator, size: int, placed: list[tuple[float, float, float]]):
    """(cx, cy, r) of a distractor inside the image, overlapping no placed object much; None if no room."""
    r = max(MIN_RADIUS_PX, size * rng.uniform(*SMALL_RADIUS))
    for _ in range(20):
        cx, cy = rng.uniform(r, size - r, 2)
        if all(math.hypot(cx - x, cy - y) >= 0.85 * (r + pr) for x, y, pr in placed):
            return float(cx), float(cy), float(r)
    return None


def _colour(rng: np.random.Generator, background_mean: np.ndarray) -> np.ndarray:
    """A colour 64-192 away from the background mean in every channel (modulo 256)."""
    return (background_mean + rng.uniform(64, 192, 3)) % 256


def _raster(poly: list[tuple[float, float]], size: int) -> np.ndarray:
    m = Image.new("L", (size, size), 0)
    ImageDraw.Draw(m).polygon(poly, fill=255)
    return np.asarray(m) > 127


def _shape_mask(kind: str, poly: list[tuple[float, float]], cx: float, cy: float, r: float, size: int) -> np.ndarray:
    """Pixels of a shape: its polygon, minus the hole for a ring."""
    mask = _raster(poly, size)
    if kind == "ring":
        mask &= ~_raster(_polygon("circle", cx, cy, RING_HOLE * r, 0.0), size)
    return mask


def _layout(rng: np.random.Generator, size: int, label: int) -> list[tuple[int, tuple[float, float, float]]]:
    """[(category, (cx, cy, r))], dominant first; distractors take categories other than ``label``."""
    dom = _dominant(rng, size)
    n_small = int(rng.integers(NUM_SMALL[0], NUM_SMALL[1] + 1))
    others = [c for c in range(len(SHAPES)) if c != label]
    objects, placed = [(label, dom)], [dom]
    for _ in range(n_small):
        cat = int(others[rng.integers(len(others))])
        geom = _small(rng, size, placed)
        if geom is not None:
            objects.append((cat, geom))
            placed.append(geom)
    return objects


def make_scene(seed: int, index: int, size: int = 64) -> Scene:
    """Scene ``index`` of dataset ``seed`` at ``size`` x ``size`` pixels (a pure function of its arguments)."""
    if size < 32:
        raise ValueError(f"scene size {size} px is below 32 px: the small objects ({MIN_RADIUS_PX:g} px radius) "
                         "would not be smaller than the dominant one; use --size >= 32")
    rng = np.random.default_rng([seed, index])
    label = index % len(SHAPES)
    stuff = int(rng.integers(len(STUFF)))
    img = _background(rng, size, stuff)
    bg_mean = img.reshape(-1, 3).mean(0)
    semantic = np.full((size, size), 1 + stuff, np.uint8)
    objects = _layout(rng, size, label)
    occupancy = np.full((size, size), -1, np.int16)
    shade = 0.8 + 0.2 * np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
    polys = []
    for k in [*range(1, len(objects)), 0]:  # distractors first, the dominant object last (on top)
        cat, (cx, cy, r) = objects[k]
        poly = _polygon(SHAPES[cat], cx, cy, r, rng.uniform(0, 2 * math.pi))
        mask = _shape_mask(SHAPES[cat], poly, cx, cy, r, size)
        img = np.where(mask[..., None], _colour(rng, bg_mean) * shade, img)
        occupancy[mask] = k
        semantic[mask] = 1 + len(STUFF) + cat
        polys.append((k, poly))
    polys.sort()
    instances = []
    for k, poly in polys:
        vis = occupancy == k
        if vis.sum() >= 4:
            instances.append(dict(category=objects[k][0], polygon=[float(v) for xy in poly for v in xy], mask=vis))
    occ = Image.fromarray((occupancy + 2).astype(np.uint8))  # one-sided band: pixels next to a different object
    semantic[np.asarray(occ.filter(ImageFilter.MaxFilter(3))) != np.asarray(occ)] = 0  # (thin rings keep pixels)
    return Scene(image=np.clip(img, 0, 255).astype(np.uint8), label=label, instances=instances, semantic=semantic)


def split_counts(num: int, val_fraction: float = VAL_FRACTION, num_classes: int = len(SHAPES),
                 val: int | None = None) -> tuple[int, int]:
    """(train, val) scene counts of a labelled set of ``num`` scenes.

    val holds ``num_classes x max(1, round(val_fraction x num / num_classes))`` scenes, so every class is in it
    equally often; train the rest (each class equally often when ``num`` is a multiple of ``num_classes``,
    otherwise the counts differ by one). ``num < 2 x num_classes`` leaves a split without some class: ValueError.
    ``val`` (``--val``) sets the val count instead: a multiple of ``num_classes`` leaving at least ``num_classes``
    train scenes, so the train scenes ``0..num-val-1`` stay those of any other ``num`` with the same train count.
    """
    if num < 2 * num_classes:
        raise ValueError(f"--num {num} is too small: every class needs a train and a val scene, so --num must be "
                         f">= {2 * num_classes} ({num_classes} classes x 2 splits)")
    if val is not None:
        if val < num_classes or val % num_classes or num - val < num_classes:
            raise ValueError(f"--val {val} must be a multiple of {num_classes} (every class equally often), at "
                             f"least {num_classes}, and leave at least {num_classes} of --num {num} for train")
        return num - val, val
    n_val = num_classes * max(1, round(val_fraction * num / num_classes))
    return num - n_val, n_val


def split_indices(num: int, split: str, val_fraction: float = VAL_FRACTION, val: int | None = None) -> range:
    """Scene indices of ``split``: 'train' and 'val' of a labelled set of ``num`` scenes (``val`` of them val, see
    ``split_counts``), or 'pool' (``num`` scenes from ``POOL_START``). The same indices in every format."""
    if split == "pool":
        return range(POOL_START, POOL_START + num)
    n_train, _ = split_counts(num, val_fraction, val=val)
    if num > POOL_START:
        raise ValueError(f"--num {num} would reach the pool's scenes (index {POOL_START}); use fewer scenes")
    return range(0, n_train) if split == "train" else range(n_train, num)


def scene_indices(num: int, split: str, val_fraction: float = VAL_FRACTION, val: int | None = None) -> range:
    """Scene indices of a split of a detection / segmentation set (any ``num >= 2``: no class balance needed);
    ``num >= 2 x len(SHAPES)`` gives the same split as ``split_indices``. ``val``: the val count (train the
    first ``num - val`` scenes)."""
    if val is not None:
        if not 1 <= val < num:
            raise ValueError(f"--val {val} must be at least 1 and leave at least one of --num {num} for train")
        return range(0, num - val) if split == "train" else range(num - val, num)
    if num >= 2 * len(SHAPES):
        return split_indices(num, split, val_fraction)
    n_val = max(1, int(round(num * val_fraction)))
    return range(0, num - n_val) if split == "train" else range(num - n_val, num)
