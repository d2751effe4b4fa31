"""ImageFolder datasets (ImageNet layout) with clear errors for missing, empty or corrupt data."""
from __future__ import annotations

import logging
import math
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torchvision import datasets, transforms
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from ..errors import ConfigError
from .errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
log = logging.getLogger(__name__)


MAE_CROP_SCALE = (0.2, 1.0)  # official main_pretrain.py @ efb2a80


PRETRAIN_AUGS = ("none", "crop_fixed", "crop_rand", "crop_color")  # the MAE paper's Table 1(e); crop_rand: the recipe
FIXED_CROP_PCT = 0.875  # crop_fixed: the short side resized to input_size / 0.875, a random input_size crop
COLOR_JITTER = 0.4  # crop_color: ColorJitter(brightness, contrast, saturation = 0.4), always applied (timm's default)


def pretrain_transform(input_size: int, crop_scale: tuple[float, float] | None = None,
                       aug: str = "crop_rand") -> transforms.Compose:
    """MAE pretraining augmentation: RandomResizedCrop(scale 0.2-1 unless given, bicubic) + flip + normalise.

    ``aug`` (Table 1(e); the paper gives no settings, docs/fidelity.md): ``none`` = resize + center crop, no flip;
    ``crop_fixed`` = short side to input_size / 0.875, a random input_size crop, flip; ``crop_rand`` = the recipe;
    ``crop_color`` = the recipe + ColorJitter(0.4, 0.4, 0.4)."""
    if aug not in PRETRAIN_AUGS:
        raise ConfigError(f"--aug {aug!r}: known {', '.join(PRETRAIN_AUGS)}")
    bicubic = InterpolationMode.BICUBIC
    tail = [transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    if aug == "none":
        return transforms.Compose([transforms.Resize(input_size, interpolation=bicubic),
                                   transforms.CenterCrop(input_size), *tail])
    if aug == "crop_fixed":
        return transforms.Compose([transforms.Resize(int(input_size / FIXED_CROP_PCT), interpolation=bicubic),
                                   transforms.RandomCrop(input_size), transforms.RandomHorizontalFlip(), *tail])
    if aug == "crop_color":
        return transforms.Compose([
            transforms.RandomResizedCrop(input_size, scale=tuple(crop_scale or MAE_CROP_SCALE), interpolation=bicubic),
            transforms.RandomHorizontalFlip(), transforms.ColorJitter(COLOR_JITTER, COLOR_JITTER, COLOR_JITTER),
            *tail])
    return transforms.Compose([
        transforms.RandomResizedCrop(input_size, scale=tuple(crop_scale or MAE_CROP_SCALE),
                                     interpolation=InterpolationMode.BICUBIC),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def eval_crop_pct(input_size: int) -> float:
    """The official MAE eval crop: 224 / 256 up to 224 px, 1.0 above (util/datasets.py @ efb2a80)."""
    return 224 / 256 if input_size <= 224 else 1.0


def eval_transform(input_size: int, crop_pct: float | None = None) -> transforms.Compose:
    """Resize the short side to int(input_size / crop_pct) (bicubic), centre crop, normalise.

    ``crop_pct`` None: the official rule (``eval_crop_pct``), so 448 px evaluates at resize 448, crop 448.
    """
    crop_pct = eval_crop_pct(input_size) if crop_pct is None else crop_pct
    return transforms.Compose([
        transforms.Resize(int(input_size / crop_pct), interpolation=InterpolationMode.BICUBIC),
        transforms.CenterCrop(input_size),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


class TFRandomResizedCrop(transforms.RandomResizedCrop):
    """The official MAE linear-probe crop (util/crop.py @ efb2a80, after BYOL's TF code): one draw, no retries.

    Area uniform in ``scale`` x image area, log aspect ratio uniform in log ``ratio``; the box side is rounded and
    clamped to the image, its corner drawn uniformly. torchvision's version retries up to 10 draws that fit and
    falls back to a centre crop, so its crops are smaller on average (mean area 0.435 vs 0.518 of a 500x375 image).
    Same torch RNG calls in the same order as the reference, so a seed gives the reference's boxes.
    """

    @staticmethod
    def get_params(img, scale: tuple[float, float], ratio: tuple[float, float]) -> tuple[int, int, int, int]:
        width, height = TF.get_image_size(img)
        target_area = height * width * torch.empty(1).uniform_(scale[0], scale[1]).item()
        log_ratio = torch.log(torch.tensor(ratio))
        aspect = torch.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1])).item()
        w = min(int(round(math.sqrt(target_area * aspect))), width)
        h = min(int(round(math.sqrt(target_area / aspect))), height)
        i = torch.randint(0, height - h + 1, size=(1,)).item()
        j = torch.randint(0, width - w + 1, size=(1,)).item()
        return i, j, h, w


def linprobe_transform(input_size: int, scale: tuple[float, float] = (0.08, 1.0)) -> transforms.Compose:
    """The official linear-probe training transform (main_linprobe.py @ efb2a80): TF-style crop (bicubic) + flip.
    ``scale`` is the crop's area range (the recipe: 0.08-1)."""
    return transforms.Compose([
        TFRandomResizedCrop(input_size, scale=tuple(scale), interpolation=InterpolationMode.BICUBIC),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


class CheckedImageFolder(datasets.ImageFolder):
    """torchvision ImageFolder whose loader names the file it cannot read.

    With ``skip_corrupt`` a bad file is replaced by the next readable sample and counted in
    ``self.num_skipped`` (per process); ``hint`` ends the error of a bad file (e.g. the flag that skips it).
    Orientation: the stored pixels (EXIF orientation ignored, as torchvision's loader does).
    """

    def __init__(self, root: str | Path, transform=None, skip_corrupt: bool = False, hint: str = ""):
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"data folder {root} does not exist")
        try:
            super().__init__(str(root), transform=transform)
        except (FileNotFoundError, RuntimeError) as e:
            raise DataError(f"data folder {root} holds no images in class subfolders ({e})") from None
        self.skip_corrupt, self.hint = skip_corrupt, hint
        self.num_skipped = 0

    def _load(self, index: int):
        path, target = self.samples[index]
        try:
            with open(path, "rb") as f:
                img = Image.open(f)
                img = img.convert("RGB")
        except (OSError, UnidentifiedImageError, SyntaxError) as e:
            raise DataError(f"cannot read image {path}: {e}") from None
        return img, target

    def __getitem__(self, index: int):
        for attempt in range(len(self.samples)):
            try:
                img, target = self._load((index + attempt) % len(self.samples))
                break
            except DataError as e:
                if not self.skip_corrupt:
                    raise DataError(f"{e}{self.hint}") from None
                self.num_skipped += 1
                log.warning("skipping %s (%d skipped so far in this process)", e, self.num_skipped)
        else:
            raise DataError(f"no readable image in {self.root}")
        if self.transform is not None:
            img = self.transform(img)
        return img, target


def build_imagefolder(data_path: str | Path, split: str, transform, skip_corrupt: bool = False,
                      hint: str = "") -> CheckedImageFolder:
    """``data_path/split`` as a dataset; ``split`` is ``train`` or ``val``; ``skip_corrupt``, ``hint``: as in
    ``CheckedImageFolder``."""
    root = Path(data_path) / split
    if not Path(data_path).is_dir():
        raise DataError(f"--data_path {data_path} does not exist")
    if not root.is_dir():
        raise DataError(f"{root} is missing: expected the ImageNet layout {data_path}/{split}/<class>/*.jpg")
    return CheckedImageFolder(root, transform=transform, skip_corrupt=skip_corrupt, hint=hint)


def check_same_classes(train: datasets.ImageFolder, val: datasets.ImageFolder) -> None:
    if train.classes != val.classes:
        only_t = sorted(set(train.classes) - set(val.classes))
        only_v = sorted(set(val.classes) - set(train.classes))
        raise DataError(f"class folders of {train.root} and {val.root} differ: only in train {only_t[:5]}, "
                        f"only in val {only_v[:5]}")


def collate_images(batch) -> tuple[torch.Tensor, torch.Tensor]:
    imgs, targets = zip(*batch)
    return torch.stack(imgs), torch.tensor(targets)
