"""COCO detection + instance segmentation transfer: a ViTDet Mask R-CNN trained and evaluated by mmdet.

``CocoTask`` (``task.Task``): the mmengine config (``--config``, default ``configs/coco/quick.py``) gets the
backbone checkpoint and ``--data-root`` (or a synthetic COCO-layout set generated under the work dir) with the class
names of its annotation json; ``run`` runs mmengine's Runner (the backbone loads the checkpoint the pipeline read,
before the first iteration; train, then test with pycocotools) and returns box and mask AP in percent.
"""
from __future__ import annotations

from pathlib import Path

from ..data.check import dataset_name
from ..data.writers import write_synthetic_once
from .mm_common import apply_image_rules, apply_run_args, backbone_label, train_and_test
from .task import Outcome, Run, Task

# record metric prefix -> CocoMetric suffix; record kind -> CocoMetric metric
AP_NAMES = {"AP": "mAP", "AP50": "mAP_50", "AP75": "mAP_75", "APs": "mAP_s", "APm": "mAP_m", "APl": "mAP_l"}
KINDS = {"box": "bbox", "mask": "segm"}


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


def point_data(cfg, root: Path) -> None:
    """Set ``data_root`` of every dataset and the CocoMetric ann files (the data step checks that they exist)."""
    for ds in dataset_cfgs(cfg):
        ds["data_root"] = str(root)
    for key, loader in (("val_evaluator", "val_dataloader"), ("test_evaluator", "test_dataloader")):
        if cfg.get(key) and cfg.get(loader):
            cfg[key]["ann_file"] = str(root / cfg[loader]["dataset"]["ann_file"])


def set_classes(cfg, classes: tuple[str, ...]) -> None:
    """The class names of every dataset and the class count of every box and mask head (single or cascade)."""
    for ds in dataset_cfgs(cfg):
        ds["metainfo"] = dict(classes=tuple(classes))
    roi = cfg.model.roi_head
    for key in ("bbox_head", "mask_head"):
        heads = roi.get(key)
        for h in heads if isinstance(heads, list) else [heads] if heads else []:
            h["num_classes"] = len(classes)


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


class CocoTask(Task):
    """``--task coco``: ViTDet Mask R-CNN fine-tuned and evaluated on COCO (or the synthetic COCO-layout set)."""
    name = "coco"
    metrics = ("AP_box", "AP_mask")

    def set_inputs(self, run: Run) -> None:
        """The backbone checkpoint, and the data root of every dataset and evaluator."""
        cfg = run.cfg
        cfg.model.backbone.checkpoint = run.checkpoint.path
        root = Path(run.args.data_root) if run.args.data_root else synthetic_coco(run.work_dir / "synthetic_coco", cfg)
        point_data(cfg, root)
        apply_image_rules(cfg)

    def dataset(self, run: Run) -> tuple[str, str]:
        """The datasets' folder, for the data step (which also refuses ``--classes``: COCO's come from its json)."""
        return "coco", dataset_cfgs(run.cfg)[0]["data_root"]

    def use_data(self, run: Run, summary) -> None:
        """The checked json's class names (in category id order) for the datasets and the heads."""
        set_classes(run.cfg, tuple(summary.class_names))

    def run(self, run: Run) -> Outcome | None:
        """Fine-tune and evaluate; the outcome on rank 0, None elsewhere."""
        cfg, args = run.cfg, run.args
        apply_run_args(cfg, run.work_dir, args.launcher, args.resume, args.seed, run.device)
        raw, rank, world = train_and_test(cfg, run.checkpoint.file)
        if rank != 0:
            return None
        root = dataset_cfgs(cfg)[0]["data_root"]
        return Outcome(coco_metrics(raw), backbone_label(cfg), dataset_name(run.data, args.dataset), world,
                       extra=dict(data_root=str(root)))
