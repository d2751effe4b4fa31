"""COCO detection + instance segmentation transfer: a ViTDet Mask R-CNN trained and evaluated by mmdet.

A task of the transfer skeleton (``skeleton``): the mmengine config (``--config``, default
``configs/coco/quick.py``) gets the backbone checkpoint and ``--data-root`` (or a synthetic COCO-layout set
generated under the work dir) with the class names of its annotation json; ``run`` loads the checkpoint into the
backbone alone first (a wrong file fails before any training), runs mmengine's Runner (train, then test with
pycocotools) and returns box and mask AP in percent.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..data.check import check_dataset, dataset_name
from ..errors import TransferError
from . import mm_common
from .mm_common import apply_image_rules, apply_run_args, backbone_label, train_and_test, write_synthetic_once
from .mm_common import merge_options as set_options  # noqa: F401  (the task's --cfg-options step)
from .skeleton import REPO, Outcome, Run, TransferArgs

DEFAULT_CONFIG = "configs/coco/quick.py"
METRICS = ("AP_box", "AP_mask")
# record metric prefix -> CocoMetric suffix; record kind -> CocoMetric metric
AP_NAMES = {"AP": "mAP", "AP50": "mAP_50", "AP75": "mAP_75", "APs": "mAP_s", "APm": "mAP_m", "APl": "mAP_l"}
KINDS = {"box": "bbox", "mask": "segm"}


def resolve_config(path: str | None) -> Path:
    """The config file: as given, else relative to the repository (so the default works from any cwd)."""
    p = Path(path or DEFAULT_CONFIG)
    if p.is_file() or p.is_absolute():
        return p
    return REPO / p if (REPO / p).is_file() else p


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


def load_config(args: TransferArgs):
    """The mmengine config (``--config``, default the quick config) -> (config, path)."""
    path = resolve_config(args.config)
    return mm_common.load_config(path), path


def set_inputs(cfg, run: Run):
    """The backbone checkpoint, and the data root (checked: ``mae_bench.data.check``) of every dataset and
    evaluator with the json's class names."""
    cfg.model.backbone.checkpoint = run.ckpt
    root = Path(run.args.data_root) if run.args.data_root else synthetic_coco(run.work_dir / "synthetic_coco", cfg)
    if run.args.classes:
        raise TransferError("--classes is for the ADE20K layout; a COCO-layout set takes its classes from its json")
    run.data = check_dataset("coco", str(root))
    run.data.raise_if_problems()
    set_num_classes(cfg, len(point_data(cfg, root)))
    apply_image_rules(cfg)
    return cfg


def run(run: Run) -> Outcome | None:
    """Fine-tune and evaluate; the outcome on rank 0, None elsewhere."""
    cfg, args = run.cfg, run.args
    apply_run_args(cfg, run.work_dir, args.launcher, args.resume, args.seed, run.device)
    check_backbone(cfg)
    raw, rank, world = train_and_test(cfg)
    if rank != 0:
        return None
    root = dataset_cfgs(cfg)[0]["data_root"]
    return Outcome(coco_metrics(raw), backbone_label(cfg), dataset_name(run.data, args.dataset), world,
                   extra=dict(data_root=str(root)))
