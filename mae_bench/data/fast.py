"""The fast MAE pretraining input pipeline: the official crop distribution, a fraction of the CPU work.

The official pipeline (main_pretrain.py @ efb2a80, ``imagefolder.pretrain_transform``) decodes the whole JPEG, crops,
resizes bicubically, converts to float and normalises in every worker. Here a worker

* draws the crop box with the rule of torchvision's ``RandomResizedCrop.get_params`` (``crop_box``), from a
  per-sample generator seeded by (seed, epoch, index), so crops do not depend on the number of workers;
* decodes an RGB or grayscale JPEG whose crop box is smaller than twice the output with libjpeg-turbo into a tensor,
  only the rows and columns around the box (``jpeg_region``, the same pixels as a whole-image decode; the whole image
  with ``torchvision.io.decode_jpeg`` where the install chose the fallback), and resizes the box with torch's
  antialiased bicubic, which matches PIL's bicubic to within 2 of 255 (mean below 0.05) at about twice its speed;
* decodes at 1/2, 1/4 or 1/8 scale when the crop box is at least that many times the output size (libjpeg's DCT
  scaling through PIL's ``Image.draft``) and resizes the scaled box with PIL (mean |diff| to the official 1-2 of 255);
* sends every other file (CMYK JPEGs, PNG, ...) through PIL exactly as the official pipeline (the same bits);
* returns uint8 CHW pixels; ``to_model_input`` normalises the batch on the training device (``ToTensor`` +
  ``Normalize``, the same float operations in the same order).

Like the official loader (``torchvision.datasets.folder.pil_loader``), EXIF orientation is not applied. With
``raw=True`` a worker returns the JPEG's bytes and its crop instead, and ``to_model_input`` decodes the batch with
``torchvision.io.decode_jpeg`` on the device (``--gpu_decode``).
"""
from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset, DistributedSampler, default_collate
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset
from torchvision.io import ImageReadMode, decode_jpeg
from torchvision.transforms.v2 import functional as TF2

from . import jpeg_region
from .imagefolder import IMAGENET_MEAN, IMAGENET_STD, MAE_CROP_SCALE, DataError

log = logging.getLogger(__name__)
RATIO = (3 / 4, 4 / 3)
DCT_SCALES = (8, 4, 2)
PIPELINES = ("fast", "official")


def crop_box(width: int, height: int, rng: random.Random, scale=MAE_CROP_SCALE,
             ratio=RATIO) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a random crop: torchvision's RandomResizedCrop rule, drawn from ``rng``.

    Up to 10 draws of an area fraction uniform in ``scale`` and a log-uniform aspect ratio in ``ratio``; the first box
    that fits is placed uniformly; if none fits, the centre crop of the whole image clamped to ``ratio``.
    """
    area = width * height
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, height - h), rng.randint(0, width - w), h, w
    if width / height < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif width / height > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def sample_rng(seed: int, epoch: int, index: int) -> random.Random:
    """The generator of one sample's crop and flip in one epoch."""
    return random.Random((seed * 1_000_003 + epoch) * 2**32 + index)


def dct_scale(box_h: int, box_w: int, size: int) -> int:
    """The largest JPEG DCT reduction (8, 4, 2) that keeps the crop box at least ``size`` px on each side; else 1."""
    return next((s for s in DCT_SCALES if min(box_h, box_w) >= s * size), 1)


def touched_pixels(box: tuple[int, int, int, int], factor: float, width: int, height: int):
    """The pixels ``box`` (top, left, h, w, in full-size pixels) touches in the image reduced by ``factor`` to
    ``width`` x ``height``, as (top, left, h, w), and the box's fractional position inside them (PIL's resize box)."""
    top, left, h, w = box
    x0, y0, x1, y1 = left / factor, top / factor, (left + w) / factor, (top + h) / factor
    fx, fy = math.floor(x0), math.floor(y0)
    touched = (fy, fx, min(math.ceil(y1), height) - fy, min(math.ceil(x1), width) - fx)
    return touched, (x0 - fx, y0 - fy, x1 - fx, y1 - fy)


def resized_crop(img: Image.Image, box: tuple[int, int, int, int], size: int, flip: bool) -> torch.Tensor:
    """``box`` (top, left, h, w) of the opened, not yet decoded ``img``, resized bicubically by PIL to (3, size, size)
    RGB uint8.

    With DCT scaling (a JPEG and a box at least twice the output: PIL's ``draft``, libjpeg's reduced IDCT) the box is
    scaled into the reduced image: the pixels it touches are cropped and its fractional position inside them is
    handed to ``resize``, so the filter sees the same neighbourhood as the official crop. (Decoding only those pixels
    with the region decoder at the reduced scale gave the same pixels and no speed: docs/data_pipeline.md.)
    """
    top, left, h, w = box
    scale = dct_scale(h, w, size)
    full_width = img.width
    drafted = img.draft("RGB", (img.width // scale, img.height // scale)) if scale > 1 else None
    factor = full_width / drafted[1][2] if drafted else 1.0  # draft returns the full image's box in new pixels
    if factor == 1.0:  # no reduction (or not a JPEG): crop and resize as the official pipeline
        region, sub = img.crop((left, top, left + w, top + h)), None
    else:
        (y, x, th, tw), sub = touched_pixels(box, factor, img.width, img.height)  # img.width: after draft, reduced
        region = img.crop((x, y, x + tw, y + th))
    if region.mode != "RGB":  # pointwise, so converting the crop equals cropping the converted image
        region = region.convert("RGB")
    out = region.resize((size, size), Image.BICUBIC, box=sub)
    if flip:
        out = out.transpose(Image.FLIP_LEFT_RIGHT)
    return torch.from_numpy(np.array(out)).permute(2, 0, 1)


def open_image(fp, name) -> Image.Image:
    try:
        return Image.open(fp)
    except (OSError, UnidentifiedImageError, SyntaxError) as e:
        raise DataError(f"cannot read image {name}: {e}") from None


def load_sample(fp, name, size: int, rng: random.Random, scale=MAE_CROP_SCALE, raw: bool = False,
                region: bool = True):
    """One training sample from an open file: (3, size, size) uint8, or with ``raw`` a ``RawImage`` for JPEGs the
    device decoder reads (RGB or grayscale); the crop and flip are drawn first, from the header's size.

    An RGB or grayscale JPEG whose crop allows no DCT scaling is decoded by libjpeg-turbo into a tensor, only around
    the box (``jpeg_region``), and resized by torch's antialiased bicubic, which matches PIL's to +-2 of 255 at twice
    PIL's speed (``tensor_crop``); a DCT-scaled crop of one, and every other file (CMYK, PNG, ...), goes through PIL
    (``resized_crop``). ``region=False`` decodes whole JPEGs, as the install's fallback does (``tools/bench_data.py``
    times both)."""
    img = open_image(fp, name)
    box = crop_box(img.width, img.height, rng, scale)
    flip = rng.random() < 0.5
    try:
        if img.format == "JPEG" and img.mode in ("RGB", "L"):
            fp.seek(0)
            data = fp.read()
            if raw:
                return RawImage(data, box, flip)
            if dct_scale(box[2], box[3], size) == 1:
                return tensor_crop(data, box, size, flip, region)
        return resized_crop(img, box, size, flip)
    except (OSError, SyntaxError, RuntimeError) as e:
        raise DataError(f"cannot read image {name}: {e}") from None


def tensor_crop(data: bytes | torch.Tensor, box: tuple[int, int, int, int], size: int, flip: bool,
                region: bool = True) -> torch.Tensor:
    """A JPEG's crop resized bicubically (antialiased, as PIL) to (3, size, size) uint8 by torch, where the image is
    (``data``: the file's bytes, decoded here on the CPU, or a decoded (3, H, W) uint8 tensor on any device)."""
    top, left, h, w = box
    if isinstance(data, torch.Tensor):
        crop = data[:, top:top + h, left:left + w]
    elif region and jpeg_region.enabled():  # only the rows and columns around the box (the same pixels there)
        crop = jpeg_region.decode_box(data, box)
    else:
        img = decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
        crop = img[:, top:top + h, left:left + w]
    # (1, 3, h, w) channels-last (a copy unless decode_box made it so): torch's vectorised uint8 bicubic reads that
    # layout, 1.3-1.7x faster than a strided view, with the same output
    crop = crop.unsqueeze(0).contiguous(memory_format=torch.channels_last)
    out = TF2.resize(crop, [size, size], TF2.InterpolationMode.BICUBIC, antialias=True)[0]
    return TF2.horizontal_flip(out) if flip else out


@dataclass
class RawImage:
    """A JPEG's bytes with its crop (top, left, h, w) and flip, decoded later on the device."""
    data: bytes
    box: tuple[int, int, int, int]
    flip: bool


def image_samples(root: str | Path) -> list[tuple[str, int]]:
    """(path, class index) of an ImageFolder (class subfolders, torchvision's order) or of a flat folder (class 0)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist")
    if any(p.is_dir() for p in root.iterdir()):
        try:
            return make_dataset(str(root), find_classes(str(root))[1], extensions=IMG_EXTENSIONS)
        except (FileNotFoundError, RuntimeError) as e:
            raise DataError(f"data folder {root} holds no images in class subfolders ({e})") from None
    files = sorted(str(p) for p in root.iterdir() if p.suffix.lower() in IMG_EXTENSIONS)
    if not files:
        raise DataError(f"data folder {root} holds no images (neither class subfolders nor image files)")
    return [(f, 0) for f in files]


def pretrain_root(data_path: str | Path) -> Path:
    """``data_path/train`` (the ImageNet layout) or, without one, ``data_path`` itself (e.g. COCO's train2017/)."""
    data_path = Path(data_path)
    if not data_path.is_dir():
        raise DataError(f"--data_path {data_path} does not exist")
    return data_path / "train" if (data_path / "train").is_dir() else data_path


class FastImageDataset(Dataset):
    """Files -> uint8 training crops (or ``RawImage``); an index is ``i`` or ``(epoch, i)`` (``EpochSampler``)."""

    def __init__(self, samples: list[tuple[str, int]], input_size: int, crop_scale=None, seed: int = 0,
                 raw: bool = False, skip_corrupt: bool = False, region: bool = True):
        self.samples, self.input_size, self.seed, self.raw, self.region = samples, input_size, seed, raw, region
        self.crop_scale = tuple(crop_scale or MAE_CROP_SCALE)
        self.skip_corrupt = skip_corrupt
        self.num_skipped = 0

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int, epoch: int):
        path, target = self.samples[index]
        rng = sample_rng(self.seed, epoch, index)
        try:
            with open(path, "rb") as f:
                return load_sample(f, path, self.input_size, rng, self.crop_scale, self.raw, self.region), target
        except OSError as e:
            raise DataError(f"cannot read image {path}: {e}") from None

    def preview(self, n: int) -> torch.Tensor:
        return preview(self, n)

    def __getitem__(self, key):
        epoch, index = key if isinstance(key, tuple) else (0, key)
        for attempt in range(len(self.samples)):
            try:
                return self.load((index + attempt) % len(self.samples), epoch)
            except DataError as e:
                if not self.skip_corrupt:
                    raise DataError(f"{e} (pass --skip_corrupt to skip unreadable files)") from None
                self.num_skipped += 1
                log.warning("skipping %s (%d skipped so far in this process)", e, self.num_skipped)
        raise DataError(f"no readable image among {len(self.samples)} files")


class EpochSampler(DistributedSampler):
    """DistributedSampler that hands the dataset (epoch, index), so persistent workers know the epoch."""

    def __iter__(self):
        return ((self.epoch, i) for i in super().__iter__())


def collate(batch):
    """(image, *rest) items -> (images, *rest collated): uint8 crops stacked (B, 3, H, W) by torch's collation (into
    shared memory in workers), or a ``RawBatch`` when the batch holds raw JPEGs."""
    images = [b[0] for b in batch]
    rest = default_collate([b[1:] for b in batch])
    raw = any(isinstance(x, RawImage) for x in images)
    return (RawBatch.of(images) if raw else default_collate(images), *rest)


@dataclass
class RawBatch:
    """A batch for device decoding: the JPEGs' bytes in one tensor, their crops and flips, and the uint8 crops of the
    files the device decoder does not read (CMYK, PNG, ...) with their places in the batch."""
    data: torch.Tensor
    lengths: list[int]
    boxes: list[tuple[int, int, int, int]]
    flips: list[bool]
    pixels: torch.Tensor | None
    pixel_slots: list[int]

    @classmethod
    def of(cls, images: list) -> "RawBatch":
        jpegs = [x for x in images if isinstance(x, RawImage)]
        slots = [k for k, x in enumerate(images) if not isinstance(x, RawImage)]
        data = torch.frombuffer(bytearray(b"".join(x.data for x in jpegs)), dtype=torch.uint8)
        pixels = torch.stack([images[k] for k in slots]) if slots else None
        return cls(data, [len(x.data) for x in jpegs], [x.box for x in jpegs], [x.flip for x in jpegs], pixels, slots)

    def pin_memory(self) -> "RawBatch":
        pixels = self.pixels.pin_memory() if self.pixels is not None else None
        return RawBatch(self.data.pin_memory(), self.lengths, self.boxes, self.flips, pixels, self.pixel_slots)

    def __len__(self) -> int:
        return len(self.lengths) + len(self.pixel_slots)


def decode_raw(batch: RawBatch, device: torch.device, size: int) -> torch.Tensor:
    """(B, 3, size, size) uint8 on ``device``: the JPEGs decoded together by ``decode_jpeg`` there, then cropped,
    resized (bicubic, antialiased) and flipped one by one; the pre-decoded crops moved into their places."""
    out = torch.empty((len(batch), 3, size, size), dtype=torch.uint8, device=device)
    jpeg_slots = [k for k in range(len(batch)) if k not in set(batch.pixel_slots)]
    if jpeg_slots:
        decoded = decode_jpeg(list(batch.data.split(batch.lengths)), mode=ImageReadMode.RGB, device=device)
        for k, img, box, flip in zip(jpeg_slots, decoded, batch.boxes, batch.flips):
            out[k] = tensor_crop(img, box, size, flip)
    if batch.pixel_slots:
        out[batch.pixel_slots] = batch.pixels.to(device, non_blocking=True)
    return out


def normalize(imgs: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) uint8 -> float, as ToTensor + Normalize compute it (divide by 255, subtract mean, divide by std)."""
    return TF2.normalize(imgs.float().div_(255), IMAGENET_MEAN, IMAGENET_STD, inplace=True)


def to_model_input(imgs, device: torch.device, size: int | None = None) -> torch.Tensor:
    """A loader's image batch as the model's float input on ``device``: uint8 (B, 3, H, W) crops are moved and
    normalised there, a ``RawBatch`` decoded there first (``size``: its output side), float batches only moved."""
    if isinstance(imgs, RawBatch):
        return normalize(decode_raw(imgs, device, size))
    imgs = imgs.to(device, non_blocking=True)
    return normalize(imgs) if imgs.dtype == torch.uint8 else imgs


def preview(dataset, n: int) -> torch.Tensor:
    """The first ``n`` crops of epoch 0 as normalised float (n, 3, H, W) on the CPU (reconstruction panels)."""
    raw, dataset.raw = dataset.raw, False
    try:
        items = [dataset[(0, i)][0] for i in range(min(n, len(dataset)))]
    finally:
        dataset.raw = raw
    return to_model_input(torch.stack(items), torch.device("cpu"))
