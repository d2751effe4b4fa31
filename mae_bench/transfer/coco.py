"""COCO detection + instance segmentation transfer: a ViTDet Mask R-CNN trained and evaluated by mmdet.

``run(args)`` builds the mmengine config (``args.config``, default ``configs/coco/quick.py``), points
its datasets and CocoMetric at ``args.data_root`` (or a synthetic COCO-layout set generated under the
work dir), sets the backbone checkpoint, checks the input before any training (annotation files,
checkpoint keys and shapes), runs mmengine's Runner (train, then test with pycocotools) and returns a
result record with box and mask AP in percent.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..data.check import check_dataset, dataset_name
from ..results import make_record, now_iso
from . import TransferArgs, TransferError
from .mm_common import (apply_image_rules, apply_run_args, backbone_label, checkpoint_labels, load_config,
                        parse_cfg_options, train_and_test, write_synthetic_once)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = "configs/coco/quick.py"
# record metric prefix -> CocoMetric suffix; record kind -> CocoMetric metric
AP_NAMES = {"AP": "mAP", "AP50": "mAP_50", "AP75": "mAP_75", "APs": "mAP_s", "APm": "mAP_m", "APl": "mAP_l"}
KINDS = {"box": "bbox", "mask": "segm"}


def resolve_config(path: str | None) -> Path:
    """The config file: as given, else relative to the repository (so the default works from any cwd)."""
    p = Path(path or DEFAULT_CONFIG)
    if p.is_file() or p.is_absolute():
        return p
    return REPO / p if (REPO / p).is_file() else p


def config_name(path: Path) -> str:
    """The config as recorded: relative to the repository when it lives there."""
    full = path.resolve()
    return str(full.relative_to(REPO)) if full.is_relative_to(REPO) else str(path)


def dataset_cfgs(cfg) -> list:
    """The innermost dataset dicts of the train / val / test dataloaders (through wrappers like RepeatDataset)."""
    out = []
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        ds = cfg.get(key, {}).get("dataset") if cfg.get(key) else None
        while ds is not None and "dataset" in ds:
            ds = ds["dataset"]
        if ds is not None:
            out.append(ds)
    return out


def synthetic_coco(root: Path, cfg) -> Path:
    """Generate (once) the synthetic COCO-layout set; scene count and size from the config's ``synthetic`` key."""
    spec = dict(num=40, size=256, seed=0) | dict(cfg.get("synthetic", {}))
    return write_synthetic_once("coco", root, spec["num"], spec["size"], spec["seed"])


def read_classes(ann_file: Path) -> tuple[str, ...]:
    """Category names of a COCO annotation file, in id order."""
    try:
        cats = json.loads(ann_file.read_text())["categories"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise TransferError(f"annotation file {ann_file} is not COCO instances json ({e})") from None
    if not cats:
        raise TransferError(f"annotation file {ann_file} has no categories")
    return tuple(c["name"] for c in sorted(cats, key=lambda c: c["id"]))


def point_data(cfg, root: Path) -> tuple[str, ...]:
    """Set ``data_root`` and the class names of every dataset and the CocoMetric ann files; check the files exist."""
    datasets = dataset_cfgs(cfg)
    for ds in datasets:
        ds["data_root"] = str(root)
        ann, img_dir = root / ds["ann_file"], root / ds.get("data_prefix", {}).get("img", "")
        if not ann.is_file():
            raise TransferError(f"annotation file {ann} does not exist (--data-root {root})")
        if not img_dir.is_dir():
            raise TransferError(f"image folder {img_dir} does not exist (--data-root {root})")
    classes = read_classes(root / datasets[-1]["ann_file"])
    for ds in datasets:
        ds["metainfo"] = dict(classes=classes)
    for key, loader in (("val_evaluator", "val_dataloader"), ("test_evaluator", "test_dataloader")):
        if cfg.get(key) and cfg.get(loader):
            cfg[key]["ann_file"] = str(root / cfg[loader]["dataset"]["ann_file"])
    return classes


def set_num_classes(cfg, n: int) -> None:
    """Class count of every box and mask head of the ROI head (single or cascade)."""
    roi = cfg.model.roi_head
    for key in ("bbox_head", "mask_head"):
        heads = roi.get(key)
        for h in heads if isinstance(heads, list) else [heads] if heads else []:
            h["num_classes"] = n


def check_backbone(cfg) -> None:
    """Build the backbone alone and load its checkpoint: a wrong checkpoint fails here, before any training."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    backbone = MODELS.build(cfg.model.backbone)
    backbone.init_weights()
    del backbone


def coco_metrics(raw: dict) -> dict[str, float]:
    """CocoMetric output (0-1, 'coco/bbox_mAP' ...) -> record metrics in percent (AP_box, AP50_mask ...).

    COCO reports -1 for an area range without ground truth; such entries are left out. A detector that
    made no detection at all (mmdet's CocoMetric then returns nothing) scores AP 0.
    """
    if not any(k.startswith("coco/") for k in raw):
        return {f"{name}_{kind}": 0.0 for kind in KINDS for name in AP_NAMES}
    out = {}
    for kind, metric in KINDS.items():
        for name, suffix in AP_NAMES.items():
            key = f"coco/{metric}_{suffix}"
            if key not in raw:
                raise KeyError(f"evaluation produced no {key}; got {sorted(raw)}")
            if raw[key] >= 0:
                out[f"{name}_{kind}"] = round(100.0 * float(raw[key]), 3)
    return out


def run(args: TransferArgs) -> dict | None:
    """Fine-tune and evaluate; the result record on rank 0, None elsewhere."""
    started, t0 = now_iso(), time.time()
    cfg_path = resolve_config(args.config)
    options = parse_cfg_options(args.cfg_options)
    cfg = load_config(cfg_path, options)
    ckpt = None if args.ckpt in (None, "", "random") else args.ckpt
    labels = checkpoint_labels(ckpt, args.init, args.pretrain_method)
    work_dir = Path(args.work_dir or Path("work_dirs") / "coco" / f"{cfg_path.stem}_{labels['init']}")
    root = Path(args.data_root) if args.data_root else synthetic_coco(work_dir / "synthetic_coco", cfg)
    if args.classes:
        raise TransferError("--classes is for the ADE20K layout; a COCO-layout set takes its classes from its json")
    data = check_dataset("coco", str(root))
    data.raise_if_problems()
    set_num_classes(cfg, len(point_data(cfg, root)))
    cfg.model.backbone.checkpoint = ckpt
    apply_image_rules(cfg)
    apply_run_args(cfg, work_dir, args.launcher, args.resume, args.seed, args.device)
    check_backbone(cfg)
    raw, rank, world = train_and_test(cfg)
    if rank != 0:
        return None
    return make_record(
        "coco", dataset_name(data, args.dataset), coco_metrics(raw),
        model=backbone_label(cfg),
        ckpt=ckpt, config=config_name(cfg_path), cfg_options=options, seed=args.seed, world_size=world, started=started,
        wall_time_s=time.time() - t0, work_dir=str(work_dir), data_root=str(root), **labels)
