"""What the cheap frozen-encoder signals share (``knn``, ``linprobe_grid``, ``attentive``; the pretraining monitors).

- ``FrozenConfig``: one dataclass for the three tasks (each reads its own fields; configs in
  ``configs/{knn,linprobe_grid,attentive}/``);
- ``build_encoder``: a ``VisionTransformer`` of ``--model`` at ``input_size`` with the encoder of ``--ckpt``
  (any format ``mae_bench.checkpoints`` reads; ``pos_embed`` resampled), frozen, in eval mode;
- ``FrozenTask``: the task hooks the three share (config, options, the image set the pipeline's data step checks:
  none for a ready-made feature set);
- ``cached_features``: ``evaluation.features.extract`` of a whole split computed once and cached on disk per
  (checkpoint sha256, dataset folder, split, transform, model);
- ``load_feature_set``: a hand-made feature set (``DIR/features.pt``) instead of images, for tests with
  known answers.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.transforms import InterpolationMode

from ..checkpoints import (
    CheckpointError,
    CheckpointFile,
    check_sha256,
    hash_file,
    load_encoder_state,
    load_file,
    record_sha256,
    save_file,
)
from ..config import ConfigError, Each, above, at_least, build, load_config_file
from ..data import IMAGENET_MEAN, IMAGENET_STD, DataError, build_imagefolder, eval_transform
from ..data.check import dataset_name
from ..data.writers import write_synthetic_once
from ..engine.amp import AMP_MODES, amp_dtype
from ..engine.training_state import check_finite
from ..errors import SaveError
from ..evaluation.features import extract
from ..models.sizes import size_label
from ..models.vit import VisionTransformer, create_vit
from .mm_common import dataclass_options
from .task import Run, Task, TransferArgs

log = logging.getLogger("mae_bench.frozen")
DINOV2_LRS = (1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1)
FEATURE_FILE = "features.pt"


@dataclass
class FrozenConfig:
    """Defaults = dinov2's ImageNet evaluation (k-NN and linear grid, ViT-B); configs override them."""
    model: str = "vit-b"
    input_size: int = 224
    patch_size: int | None = None
    eval_crop_pct: float = 224 / 256  # resize 256, centre crop 224 (dinov2 make_classification_eval_transform)
    batch_size: int = 128  # per step (dinov2 linear: 128 per GPU)
    eval_batch_size: int = 256
    num_workers: int = 8
    synthetic_num: int = 512  # images of the built-in synthetic set (no --data-root)
    dataset: str | None = None  # record label; default imagenet, or synthetic for the synthetic classes
    cache_dir: str | None = None  # feature cache; default work_dirs/feature_cache
    amp: str = "auto"  # engine/amp.py mode of the frozen forward: auto = bf16 on GPU, fp32 on CPU
    device: str | None = None
    seed: int = 0
    # knn (dinov2 eval/knn.py defaults)
    nb_knn: list = field(default_factory=lambda: [10, 20, 100, 200])
    temperature: float = 0.07
    knn_chunk: int = 65536  # train-bank rows per similarity block (bounds memory on ImageNet-size banks)
    # training heads (linprobe_grid: dinov2 eval/linear.py; attentive: efficient probing)
    epochs: int = 10
    iters_per_epoch: int | None = 1250  # dinov2 epoch_length; None: one pass over train/
    learning_rates: list = field(default_factory=lambda: list(DINOV2_LRS))  # x batch / 256 (dinov2 scale_lr)
    n_last_blocks: list = field(default_factory=lambda: [1, 4])
    pools: list = field(default_factory=lambda: ["cls", "avg", "cls_avg"])
    grid_on_features: bool = False  # True: train on cached eval-transform features (no augmentation; monitors)
    # attentive probe
    num_queries: int = 1
    optimizer: str = "sgd"  # sgd (dinov2 linear) | lars (MAE / efficient-probing linear probe)
    blr: float = 0.1  # lars: lr = blr x batch / 256
    weight_decay: float = 0.0
    warmup_epochs: float = 0.0

    # the allowed values of its own fields (mae_bench.config: SHARED_LIMITS hold the common ones, the type comes
    # from the annotation)
    LIMITS: ClassVar[dict] = dict(
        nb_knn=Each(at_least(1), integer=True),
        temperature=above(0),
        knn_chunk=at_least(1),
        iters_per_epoch=at_least(1),
        learning_rates=Each(above(0)),
        n_last_blocks=Each(at_least(1), integer=True),
        num_queries=at_least(1),
    )

    def __post_init__(self):
        self.model = size_label(self.model, "model")
        bad = [p for p in self.pools if p not in ("cls", "avg", "cls_avg")]
        if bad:
            raise ConfigError(f"pools {bad}: known cls, avg, cls_avg")
        if self.optimizer not in ("sgd", "lars"):
            raise ConfigError(f"optimizer={self.optimizer!r} is not one of sgd, lars")
        if self.amp not in AMP_MODES:
            raise ConfigError(f"amp={self.amp!r} is not one of {', '.join(AMP_MODES)}")


# ---------------------------------------------------------------- configuration


class FrozenTask(Task):
    """The hooks ``knn``, ``linprobe_grid`` and ``attentive`` share: a ``FrozenConfig`` (dataclass defaults < config
    file < flags; ``--cfg-options`` after) and an ImageFolder set, or a ready-made feature set with nothing to
    check."""

    def load_config(self, path: Path, args: TransferArgs) -> FrozenConfig:
        flags = dict(model=args.model, epochs=args.epochs, batch_size=args.batch_size, device=args.device)
        cli = {**{k: v for k, v in flags.items() if v is not None}, "seed": args.seed}
        return build(FrozenConfig, load_config_file(path), cli, source=str(path))

    def set_options(self, cfg: FrozenConfig, options: dict) -> FrozenConfig:
        return dataclass_options(cfg, options)

    def dataset(self, run: Run) -> tuple[str, Path] | None:
        """The image set (ImageFolder layout); None for a ready-made feature set (``--data-root`` holding
        ``features.pt``)."""
        root = data_root(run.args, run.cfg, run.work_dir)
        return None if (root / FEATURE_FILE).is_file() else ("imagefolder", root)


def single_process() -> None:
    """These tasks run in one process (under torchrun every rank would write a record)."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("knn / linprobe_grid / attentive run in one process: drop --gpus / --launcher")


# ---------------------------------------------------------------- data


def data_root(args, cfg: FrozenConfig, work_dir: Path) -> Path:
    """--data-root, or the built-in synthetic ImageFolder set written once under the work dir."""
    if args.data_root:
        root = Path(args.data_root)
        if not root.is_dir():
            raise DataError(f"--data-root {root} does not exist")
        return root
    return write_synthetic_once("imagefolder", work_dir / "synthetic_imagefolder", cfg.synthetic_num,
                                max(cfg.input_size, 64), cfg.seed)


def train_transform(cfg: FrozenConfig) -> transforms.Compose:
    """RandomResizedCrop (bicubic) + flip: dinov2's ``make_classification_train_transform`` and the MAE linear
    probe's augmentation."""
    return transforms.Compose([
        transforms.RandomResizedCrop(cfg.input_size, interpolation=InterpolationMode.BICUBIC),
        transforms.RandomHorizontalFlip(), transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def start(run) -> tuple[FrozenConfig, torch.device, Path, str]:
    """What every frozen task does first: one process, the work dir -> (config, device, data root, the record's
    dataset name: ``data.check.dataset_name`` of the checked set; a ready-made feature set is named by
    ``--dataset``, the config's ``dataset`` or its folder)."""
    single_process()
    run.work_dir.mkdir(parents=True, exist_ok=True)
    label = run.args.dataset or run.cfg.dataset
    if run.data is not None:
        return run.cfg, torch.device(run.device), Path(run.data.root), dataset_name(run.data, label)
    root = data_root(run.args, run.cfg, run.work_dir)
    return run.cfg, torch.device(run.device), root, label or root.name


def loader(root: Path, split: str, transform, batch_size: int, cfg: FrozenConfig, shuffle: bool) -> DataLoader:
    ds = build_imagefolder(root, split, transform)
    g = torch.Generator().manual_seed(cfg.seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=g, num_workers=cfg.num_workers,
                      drop_last=shuffle and len(ds) >= batch_size, persistent_workers=False)


# ---------------------------------------------------------------- encoder and features


def build_encoder(cfg: FrozenConfig, ckpt: CheckpointFile | str | None,
                  device: torch.device) -> tuple[VisionTransformer, str]:
    """Frozen encoder initialised from ``ckpt`` (the checkpoint as read, or a file; None: the MAE random init)
    -> (model, summary)."""
    torch.manual_seed(cfg.seed)
    model = create_vit(cfg.model, img_size=cfg.input_size, patch_size=cfg.patch_size)
    summary = load_encoder_state(model, ckpt).summary() if ckpt else "random init"
    name = ckpt.path if isinstance(ckpt, CheckpointFile) else ckpt
    check_finite(model.state_dict(), f"refusing the checkpoint {name}: its encoder weights are not finite")
    model.requires_grad_(False)
    return model.eval().to(device), summary


def cache_key(ckpt_sha256: str | None, root: Path, split: str, transform, cfg: FrozenConfig, n_last: int,
              dtype=None) -> str:
    """sha256 of (checkpoint sha256, dataset folder + its file count, split, transform, model geometry, blocks,
    autocast dtype)."""
    ckpt_id = ckpt_sha256 or f"random-seed{cfg.seed}"
    folder = (Path(root) / split).resolve()
    n_files = sum(1 for p in folder.rglob("*") if p.is_file())
    text = "|".join(map(str, (ckpt_id, folder, n_files, split, transform, cfg.model, cfg.input_size, cfg.patch_size,
                              n_last, dtype)))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cached_features(vit: VisionTransformer, ckpt_sha256: str | None, root: Path, split: str, cfg: FrozenConfig,
                    device: torch.device, n_last: int = 4) -> dict:
    """``extract`` on ``root/split`` with the eval transform, computed once per cache key (``ckpt_sha256``: the
    encoder's checkpoint, None for random init) and stored as ``<cache_dir>/<key>.pt`` (loaded back with
    weights_only=True) beside ``<key>.pt.sha256``, the hash of its bytes.

    Several processes may cache one key at once: each writes under its own temporary name, and a file another
    process finished meanwhile is kept. A cache file that fails to load or to match its hash is removed with a
    warning naming it, and the features are computed again."""
    transform = eval_transform(cfg.input_size, cfg.eval_crop_pct)
    key = cache_key(ckpt_sha256, root, split, transform, cfg, n_last, amp_dtype(cfg.amp, device))
    path = Path(cfg.cache_dir or "work_dirs/feature_cache") / f"{key}.pt"
    feats = read_cache(path)
    if feats is not None:
        log.info("features of %s/%s from the cache %s", root, split, path)
        return feats
    feats = extract(vit, loader(root, split, transform, cfg.eval_batch_size, cfg, shuffle=False), n_last, device,
                    cfg.amp)
    check_finite(feats, f"refusing the features of {root}/{split}: they are not finite")
    if path.is_file():
        log.info("features of %s/%s: another process cached them at %s meanwhile", root, split, path)
        return feats
    try:
        hash_file(path).unlink(missing_ok=True)
        save_file(feats, path)
        record_sha256(path)
    except SaveError as e:  # a full cache disk costs the cache, not the run
        log.warning("features of %s/%s not cached: %s", root, split, e)
        return feats
    log.info("features of %s/%s: %d images, cached at %s", root, split, len(feats["labels"]), path)
    return feats


def read_cache(path: Path) -> dict | None:
    """The features cached at ``path``, or None when there are none or the file is unusable (then it is removed with
    a warning naming it)."""
    if not path.is_file():
        return None
    try:
        check_sha256(path)
        feats = load_file(path)
        if not isinstance(feats.get("labels"), torch.Tensor):
            raise CheckpointError("it holds no feature tensors")
        return feats
    except (CheckpointError, OSError) as e:
        log.warning("feature cache file %s is unusable (%s); removed, the features are computed again", path, e)
        for p in (path, hash_file(path)):
            p.unlink(missing_ok=True)
        return None


def feature_set_classes(fset: dict) -> list[str]:
    """Class names of a feature set: its label values 0..max as strings."""
    return [str(c) for c in range(int(max(fset["train"]["labels"].max(), fset["val"]["labels"].max())) + 1)]


def load_feature_set(root: Path) -> dict | None:
    """``root/features.pt`` (a hand-made feature set) or None when absent.

    Layout: ``{"train": split, "val": split}``, each split a dict of tensors ``labels`` [N] (int) and
    ``cls`` [N, D] or [N, n, D], optionally ``avg`` [N, D] and ``tokens`` [N, L, D] (patch tokens, for the
    attentive probe). Loaded with weights_only=True; a missing key raises a DataError naming it.
    """
    path = Path(root) / FEATURE_FILE
    if not path.is_file():
        return None
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for split in ("train", "val"):
        if not isinstance(obj.get(split), dict) or "labels" not in obj[split] or "cls" not in obj[split]:
            raise DataError(f"{path}: needs {split}.labels and {split}.cls (got keys {sorted(obj)})")
        s = obj[split]
        if s["cls"].ndim == 2:
            s["cls"] = s["cls"][:, None]
        s.setdefault("avg", s["cls"][:, -1])
        s["cls"], s["avg"], s["labels"] = s["cls"].float(), s["avg"].float(), s["labels"].long()
        check_finite(s, f"refusing the feature set {path} ({split}): its features are not finite")
    return obj
