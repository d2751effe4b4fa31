"""Check a dataset before any training: layout, split sizes, every referenced file, annotations, labels.

``check_dataset(kind, root)`` (kind ``imagefolder``, ``coco`` or ``ade20k``) returns a ``DatasetSummary``; its
``problems`` name the file, the key and the value. The default check is cheap (file listings and image headers, no
image decoding) and runs at the start of every task and of pretraining; ``full=True`` also decodes every image, in
parallel, with a progress bar (``tools/check_data.py --full``).

What the cheap check reads:
- ImageFolder: ``train/<class>/`` and ``val/<class>/`` (the image files torchvision's ImageFolder takes), the same
  classes in both, no empty class, no empty file.
- COCO: ``annotations/instances_{train,val}2017.json`` and ``{train,val}2017/``: unique image, annotation and
  category ids, every ``file_name`` on disk with the json's width and height (from the file's header, stored
  pixels), every annotation on a known image and category, boxes inside their image, crowd RLE sizes.
- ADE20K layout: ``images/{training,validation}/*.jpg`` each with ``annotations/<split>/<stem>.png`` of the same
  size, one channel, values 0 (ignored), 1..N (the classes) or 255 (ignored). Decoding the label maps is part of
  the cheap check (small PNGs: about 1 ms each, threads).
"""
from __future__ import annotations

import io
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from torchvision.datasets.folder import IMG_EXTENSIONS as IMAGE_EXTENSIONS  # what ImageFolder reads

from ..progress import progress_bar
from ..results import canonical_dataset
from .errors import DataError
from .synthetic import SEMANTIC_CLASSES
from .writers import MARKER

KINDS = ("imagefolder", "coco", "ade20k")
# kind -> (official name, images per split, classes)
OFFICIAL = {"imagefolder": ("imagenet", {"train": 1_281_167, "val": 50_000}, 1000),
            "coco": ("coco2017", {"train": 118_287, "val": 5_000}, 80),
            "ade20k": ("ade20k", {"train": 20_210, "val": 2_000}, 150)}
SYNTHETIC_NAME = {"imagefolder": "synthetic", "coco": "synthetic_coco", "ade20k": "synthetic_ade20k"}
ADE_SPLITS = {"train": "training", "val": "validation"}
IGNORE_LABEL = 255
SHOWN_PROBLEMS = 5


@dataclass
class DatasetSummary:
    kind: str
    root: str
    splits: dict[str, int] = field(default_factory=dict)  # images per split
    num_classes: int = 0
    class_names: list[str] = field(default_factory=list)
    official: bool = False
    problems: list[str] = field(default_factory=list)
    synthetic: bool = False
    notes: list[str] = field(default_factory=list)  # facts that are not problems (images without annotations ...)

    def summary(self) -> str:
        """Printable: kind, root, split sizes, classes, official or not, notes and problems."""
        names = ", ".join(self.class_names[:8]) + (", ..." if len(self.class_names) > 8 else "")
        official = OFFICIAL[self.kind]
        lines = [f"{self.kind} dataset {self.root}",
                 "  splits: " + ", ".join(f"{s} {n:,} images" for s, n in self.splits.items()),
                 f"  classes: {self.num_classes} ({names})",
                 f"  official {official[0]} sizes: {'yes' if self.official else 'no'}"
                 + ("" if self.official else " (records name it " + dataset_name(self) + ")")]
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(f"  problems: {len(self.problems)}")
        lines += [f"    {p}" for p in self.problems[:20]]
        if len(self.problems) > 20:
            lines.append(f"    ... {len(self.problems) - 20} more")
        return "\n".join(lines)

    def raise_if_problems(self) -> None:
        """DataError naming the first problems (file, key, value) and how many there are."""
        if not self.problems:
            return
        shown = "; ".join(self.problems[:SHOWN_PROBLEMS])
        more = len(self.problems) - SHOWN_PROBLEMS
        tail = f"; ... {more} more (tools/check_data.py --task {self.kind} --data-root {self.root} lists them)" \
            if more > 0 else ""
        raise DataError(f"{self.kind} dataset {self.root}: {len(self.problems)} problem(s): {shown}{tail}")


def check_dataset(kind: str, root: str, *, classes: str | None = None, full: bool = False, workers: int | None = None,
                  progress: bool = False, splits: tuple[str, ...] = ("train", "val")) -> DatasetSummary:
    """Check the dataset at ``root`` in the ``kind`` layout; ``classes``: a class-name file (ADE20K layout only);
    ``full``: also decode every image; ``splits``: the splits that must be there (pretraining: ``("train",)``)."""
    if kind not in KINDS:
        raise DataError(f"unknown dataset kind {kind!r}; known: {', '.join(KINDS)}")
    summary = DatasetSummary(kind=kind, root=str(root), synthetic=(Path(root) / MARKER).is_file())
    if not Path(root).is_dir():
        summary.problems.append(f"{root}: the dataset folder does not exist")
        return summary
    if classes is not None and kind != "ade20k":
        raise DataError(f"--classes is for the ADE20K layout; {kind} takes its classes from "
                        + ("its json" if kind == "coco" else "its class folders"))
    workers = workers or min(16, os.cpu_count() or 1)
    images = CHECKS[kind](summary, Path(root), splits, classes, workers, progress)
    name, sizes, num_classes = OFFICIAL[kind]
    summary.official = summary.splits == sizes and summary.num_classes == num_classes
    if full and images:
        decode_all(summary, images, workers, progress)
    return summary


def dataset_name(summary: DatasetSummary, override: str | None = None) -> str:
    """The record's ``dataset``: ``override``, else ``synthetic*`` for mae-bench's scenes, the official name only for
    a set with the official split sizes, else the folder's name (``<name>_subset`` if that is an official name)."""
    if override:
        return override
    if summary.synthetic:
        return SYNTHETIC_NAME[summary.kind]
    official = OFFICIAL[summary.kind][0]
    if summary.official:
        return official
    folder = Path(summary.root).resolve().name
    official_names = {o[0] for o in OFFICIAL.values()}
    return f"{folder}_subset" if canonical_dataset(folder).lower() in official_names else folder


def load_class_names(path: str) -> list[str]:
    """Class names of labels 1..N from ``path``: one name a line, or a JSON list of names or of objects with
    ``name`` (an object with ``label`` 0, the unlabeled entry, is left out)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"--classes {path} does not exist")
    text = p.read_text(encoding="utf-8")
    if p.suffix == ".json" or text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"--classes {path} is not valid JSON ({e})") from None
        if not isinstance(items, list):
            raise DataError(f"--classes {path}: expected a JSON list, got {type(items).__name__}")
        names = []
        for i, item in enumerate(items):
            if isinstance(item, dict) and item.get("label") == 0:
                continue
            name = item.get("name") if isinstance(item, dict) else item
            if not isinstance(name, str) or not name:
                raise DataError(f"--classes {path}: entry {i} has no name ({item!r:.80})")
            names.append(name)
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise DataError(f"--classes {path} holds no class names")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DataError(f"--classes {path}: repeated names {dup[:5]}")
    return names


# ---------------------------------------------------------------- ImageFolder


def image_files(folder: Path) -> list[os.DirEntry]:
    return sorted((e for e in os.scandir(folder) if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS)),
                  key=lambda e: e.name)


def check_imagefolder(s: DatasetSummary, root: Path, splits, classes, workers, progress) -> list[Path]:
    images, class_sets = [], {}
    for split in splits:
        folder = root / split
        if not folder.is_dir():
            s.problems.append(f"{folder}: missing; expected the ImageNet layout {root}/{split}/<class>/*.jpg")
            continue
        names = sorted(e.name for e in os.scandir(folder) if e.is_dir())
        class_sets[split] = names
        count = 0
        for name in names:
            files = image_files(folder / name)
            if not files:
                s.problems.append(f"{folder / name}: class folder holds no image file ({', '.join(IMAGE_EXTENSIONS)})")
            for e in files:
                if e.stat().st_size == 0:
                    s.problems.append(f"{e.path}: empty file (0 bytes)")
            images += [Path(e.path) for e in files]
            count += len(files)
        s.splits[split] = count
        if count == 0:
            s.problems.append(f"{folder}: empty split, holds no images in class subfolders")
    if len(class_sets) == 2 and class_sets["train"] != class_sets["val"]:
        only_t = sorted(set(class_sets["train"]) - set(class_sets["val"]))
        only_v = sorted(set(class_sets["val"]) - set(class_sets["train"]))
        s.problems.append(f"{root}: class folders of train and val differ: only in train {only_t[:5]}, "
                          f"only in val {only_v[:5]}")
    s.class_names = class_sets.get("train") or next(iter(class_sets.values()), [])
    s.num_classes = len(s.class_names)
    return images


# ---------------------------------------------------------------- COCO


def read_json(path: Path, s: DatasetSummary) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        s.problems.append(f"{path}: cannot read COCO json ({e})")
        return None
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data.get(k), list)]
    if missing:
        s.problems.append(f"{path}: not COCO instances json: no list {missing}")
        return None
    return data


def image_size(path: Path) -> tuple[tuple[int, int] | None, str]:
    """(stored width, height) from the header, and the EXIF orientation note; (None, reason) if unreadable."""
    try:
        with Image.open(path) as im:
            orientation = im.getexif().get(0x0112, 1) if im.format == "JPEG" else 1
            return im.size, (f" (EXIF orientation {orientation}: mae-bench reads the stored pixels)"
                             if orientation not in (1, None) else "")
    except (OSError, SyntaxError, ValueError) as e:
        return None, str(e)


def unique_ids(items: list, what: str, path: Path, s: DatasetSummary) -> dict:
    out = {}
    for i, item in enumerate(items):
        key = item.get("id") if isinstance(item, dict) else None
        if not isinstance(key, int) or isinstance(key, bool):
            s.problems.append(f"{path}: {what}[{i}] has id {key!r}; expected an integer")
        elif key in out:
            s.problems.append(f"{path}: {what} id {key} appears twice")
        else:
            out[key] = item
    return out


def check_coco_split(s: DatasetSummary, root: Path, split: str, workers: int, progress: bool):
    ann, folder = root / "annotations" / f"instances_{split}2017.json", root / f"{split}2017"
    for p in (ann, folder):
        if not p.exists():
            s.problems.append(f"{p}: missing (COCO layout: annotations/instances_{split}2017.json, {split}2017/)")
    if not ann.is_file() or not folder.is_dir():
        return None, []
    data = read_json(ann, s)
    if data is None:
        return None, []
    cats = unique_ids(data["categories"], "categories", ann, s)
    imgs = unique_ids(data["images"], "images", ann, s)
    s.splits[split] = len(imgs)
    if not imgs:
        s.problems.append(f"{ann}: empty split (no images)")
    on_disk = {e.name for e in os.scandir(folder) if e.is_file()}
    paths = {}
    for i, img in imgs.items():
        name, w, h = img.get("file_name"), img.get("width"), img.get("height")
        if not isinstance(w, int) or not isinstance(h, int) or w <= 0 or h <= 0:
            s.problems.append(f"{ann}: image {i} ({name}) has width {w!r}, height {h!r}; expected positive integers")
        if not isinstance(name, str) or not (name in on_disk or "/" in name and (folder / name).is_file()):
            s.problems.append(f"{folder / str(name)}: listed in {ann.name} (image id {i}) but missing")
        else:
            paths[i] = folder / name
    ids = list(paths)
    bar = progress_bar(total=len(ids), desc=f"{split}2017 headers", disable=not progress, unit="img")
    with ThreadPoolExecutor(workers) as pool:
        for i, (size, note) in zip(ids, pool.map(image_size, [paths[i] for i in ids])):
            bar.update()
            if size is None:
                s.problems.append(f"{paths[i]}: cannot read the image header ({note})")
            elif tuple(size) != (imgs[i].get("width"), imgs[i].get("height")):
                s.problems.append(f"{paths[i]}: file is {size[0]}x{size[1]}, {ann.name} image {i} says width "
                                  f"{imgs[i].get('width')} height {imgs[i].get('height')}{note}")
    bar.close()
    annotated = check_annotations(s, ann, data["annotations"], imgs, cats)
    if split == "train" and imgs and not annotated:  # mmdet's filter_empty_gt would leave no training image
        s.problems.append(f"{ann}: empty split for training: none of its {len(imgs)} images has an annotation")
    if len(imgs) > len(annotated):
        s.notes.append(f"{split}: {len(imgs) - len(annotated)} image(s) without annotations (kept for testing, "
                       "left out of training by the configs' filter_empty_gt)")
    return cats, list(paths.values())


def check_annotations(s: DatasetSummary, ann: Path, anns: list, imgs: dict, cats: dict) -> set:
    """Problems of the annotations (unknown image or category, boxes outside the image, crowd RLE size);
    returns the ids of images with at least one annotation."""
    annotated = set()
    unique_ids(anns, "annotations", ann, s)
    for a in anns:
        if not isinstance(a, dict):
            continue
        key, image_id, cat = a.get("id"), a.get("image_id"), a.get("category_id")
        if cat not in cats:
            s.problems.append(f"{ann}: annotation {key} has category_id {cat!r}, not in categories "
                              f"({sorted(cats)[:3]}...{sorted(cats)[-1:]})")
        img = imgs.get(image_id)
        if img is None:
            s.problems.append(f"{ann}: annotation {key} has image_id {image_id!r}, not in images")
            continue
        annotated.add(image_id)
        box = a.get("bbox")
        w, h = img.get("width"), img.get("height")
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)):
            s.problems.append(f"{ann}: annotation {key} has bbox {box!r:.60}; expected [x, y, w, h]")
        elif isinstance(w, int) and isinstance(h, int) and (
                box[2] < 0 or box[3] < 0 or box[0] < -1 or box[1] < -1
                or box[0] + box[2] > w + 1 or box[1] + box[3] > h + 1):
            s.problems.append(f"{ann}: annotation {key} has bbox {box} outside its image {image_id} ({w}x{h})")
        seg = a.get("segmentation")
        if isinstance(seg, dict) and list(seg.get("size", [])) != [h, w]:
            s.problems.append(f"{ann}: annotation {key} has RLE size {seg.get('size')}, image {image_id} is "
                              f"height {h} width {w}")
    return annotated


def check_coco(s: DatasetSummary, root: Path, splits, classes, workers, progress) -> list[Path]:
    images, cat_sets = [], {}
    for split in splits:
        cats, paths = check_coco_split(s, root, split, workers, progress)
        images += paths
        if cats is not None:
            cat_sets[split] = {i: c.get("name") for i, c in cats.items()}
    if len(cat_sets) == 2 and cat_sets["train"] != cat_sets["val"]:
        s.problems.append(f"{root / 'annotations'}: the train and val json have different categories")
    cats = next(iter(cat_sets.values()), {})
    s.class_names = [str(cats[i]) for i in sorted(cats)]
    s.num_classes = len(s.class_names)
    if cat_sets and not cats:
        s.problems.append(f"{root / 'annotations'}: no categories")
    return images


# ---------------------------------------------------------------- ADE20K layout


def ade_class_names(s: DatasetSummary, classes: str | None) -> list[str]:
    if classes:
        return load_class_names(classes)
    if s.synthetic:
        return list(SEMANTIC_CLASSES)
    from mmseg.datasets import ADE20KDataset  # ADE20K's 150 names

    return list(ADE20KDataset.METAINFO["classes"])


def label_problem(pair: tuple[Path, Path], num_classes: int) -> str | None:
    """The problem of one (image, label map) pair, None if it is fine."""
    image, label = pair
    size, why = image_size(image)
    if size is None:
        return f"{image}: cannot read the image header ({why})"
    try:
        with Image.open(label) as im:
            if im.mode not in ("L", "P"):
                return f"{label}: label map has mode {im.mode}; expected one channel (8-bit L or P)"
            if im.size != size:
                return f"{label}: label map is {im.size[0]}x{im.size[1]}, its image {image.name} is {size[0]}x{size[1]}"
            values = np.unique(np.asarray(im))
    except (OSError, SyntaxError, ValueError) as e:
        return f"{label}: cannot read the label map ({e})"
    bad = values[(values > num_classes) & (values != IGNORE_LABEL)]
    if bad.size:
        return (f"{label}: label value {int(bad[0])} out of range; expected 0 (ignored), 1..{num_classes} "
                f"(classes) or {IGNORE_LABEL} (ignored)")
    return None


def check_ade20k(s: DatasetSummary, root: Path, splits, classes, workers, progress) -> list[Path]:
    s.class_names = ade_class_names(s, classes)
    s.num_classes = len(s.class_names)
    images, pairs = [], []
    for split in splits:
        img_dir, ann_dir = root / "images" / ADE_SPLITS[split], root / "annotations" / ADE_SPLITS[split]
        missing = [d for d in (img_dir, ann_dir) if not d.is_dir()]
        for d in missing:
            s.problems.append(f"{d}: missing (ADE20K layout: images/{ADE_SPLITS[split]}/*.jpg, "
                              f"annotations/{ADE_SPLITS[split]}/*.png)")
        if missing:
            continue
        split_images = [Path(e.path) for e in os.scandir(img_dir) if e.is_file() and e.name.endswith(".jpg")]
        labels = {e.name for e in os.scandir(ann_dir) if e.is_file()}
        s.splits[split] = len(split_images)
        if not split_images:
            s.problems.append(f"{img_dir}: empty split (no *.jpg)")
        for img in sorted(split_images):
            if img.stem + ".png" not in labels:
                s.problems.append(f"{ann_dir / (img.stem + '.png')}: label map of {img.name} missing")
            else:
                pairs.append((img, ann_dir / (img.stem + ".png")))
        images += split_images
    bar = progress_bar(total=len(pairs), desc="label maps", disable=not progress, unit="map")
    with ThreadPoolExecutor(workers) as pool:  # PNG decoding releases the GIL
        for problem in pool.map(label_problem, pairs, [s.num_classes] * len(pairs)):
            bar.update()
            if problem:
                s.problems.append(problem)
    bar.close()
    return images


CHECKS = {"imagefolder": check_imagefolder, "coco": check_coco, "ade20k": check_ade20k}


# ---------------------------------------------------------------- decoding (--full, and the mm pipelines)


def jpeg_truncated(content: bytes) -> bool:
    """True for a JPEG that ends before its image data does. A JPEG ends with the end-of-image marker FF D9; a file
    without it near its end is decoded by PIL, which raises on missing data (and accepts trailing bytes)."""
    if content[:2] != b"\xff\xd8" or b"\xff\xd9" in content[-64:]:
        return False
    try:
        with Image.open(io.BytesIO(content)) as im:
            im.load()
    except OSError:
        return True
    return False


def decode_problem(path: Path) -> str | None:
    """Decode the whole image as training will (PIL, RGB); the problem, None if it decodes."""
    try:
        with Image.open(path) as im:
            im.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        return f"{path}: cannot decode ({e})"
    return None


def decode_all(s: DatasetSummary, images: list[Path], workers: int, progress: bool) -> None:
    bar = progress_bar(total=len(images), desc="decoding", disable=not progress, unit="img")
    with ThreadPoolExecutor(workers) as pool:
        for problem in pool.map(decode_problem, images):
            bar.update()
            if problem:
                s.problems.append(problem)
    bar.close()
