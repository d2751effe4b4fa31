"""ADE20K semantic segmentation transfer: UperNet on the pretrained ViT through the real mmseg Runner.

``ADE20KTask`` (``task.Task``): the config (default ``configs/ade20k/quick.py``) gets the backbone checkpoint and
``--data-root`` (or a synthetic ADE20K-layout set written under the work dir); ``run`` trains through the mmseg
Runner (the backbone loads the checkpoint the pipeline read, before the first iteration), evaluates with mmseg's
``IoUMetric`` (sliding window; ``--ms-flip``: mmseg's multi-scale + flip test-time augmentation) and returns mIoU,
aAcc and mAcc. ``ade20k_linear.ADE20KLinearTask`` is the same task with a frozen probe's config.
"""
from __future__ import annotations

import copy
from pathlib import Path

from ..data.check import DatasetSummary, dataset_name
from ..data.writers import write_synthetic_once
from ..errors import TransferError
from .mm_common import (
    allow_mmengine_checkpoints,
    apply_image_rules,
    apply_run_args,
    backbone_label,
    build_runner,
    metrics_from,
)
from .task import Outcome, Run, Task

SYNTHETIC_SCENES = 40  # 32 training, 8 validation
IOU_METRICS = {"mIoU": "mIoU", "aAcc": "aAcc", "mAcc": "mAcc"}  # IoUMetric reports percent already
LOADERS = ("train_dataloader", "val_dataloader", "test_dataloader")


def _datasets(cfg) -> list:
    """The dataset configs of the train / val / test loaders present in ``cfg`` (unwrapping RepeatDataset)."""
    out = []
    for name in LOADERS:
        loader = cfg.get(name)
        if loader:
            ds = loader["dataset"]
            out.append(ds.get("dataset", ds))
    return out


def set_data_root(cfg, root: str | Path) -> None:
    for ds in _datasets(cfg):
        ds["data_root"] = str(root)


def tta_config(cfg, checkpoint: str):
    """Test-only config of mmseg's multi-scale + flip TTA (``SegTTAModel`` over ``tta_pipeline``)."""
    tta = copy.deepcopy(cfg)
    tta.model = dict(cfg.get("tta_model", dict(type="SegTTAModel")), module=cfg.model)
    tta.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    tta.load_from, tta.resume = checkpoint, False
    for key in ("train_dataloader", "train_cfg", "optim_wrapper", "param_scheduler", "val_dataloader", "val_cfg",
                "val_evaluator"):
        tta[key] = None
    return tta


def train_and_evaluate(cfg, ms_flip: bool, checkpoint=None) -> tuple[dict, int, int]:
    """Train (the backbone given ``checkpoint``, the file the pipeline read), test single scale; with ``ms_flip``
    test the final weights again with TTA -> (metrics, rank, world)."""
    from mmengine.dist import get_dist_info
    from mmengine.runner import Runner

    runner = build_runner(cfg, checkpoint)
    runner.train()
    metrics = dict(runner.test())
    if ms_flip:
        last = Path(cfg.work_dir) / "last_checkpoint"
        ss = metrics
        allow_mmengine_checkpoints()  # the TTA runner loads mmengine's checkpoint with weights_only=True
        metrics = dict(Runner.from_cfg(tta_config(cfg, last.read_text().strip())).test())
        metrics["mIoU_ss"] = ss["mIoU"]
    rank, world = get_dist_info()
    return metrics, rank, world


def synthetic_root(run: Run) -> Path:
    return run.work_dir / "data" / "synthetic_ade20k"


class ADE20KTask(Task):
    """``--task ade20k``: UperNet on the ViT, fine-tuned and evaluated on ADE20K (or the synthetic set)."""
    name = "ade20k"
    metrics = tuple(IOU_METRICS)

    def set_inputs(self, run: Run) -> None:
        """The backbone checkpoint and the data root of every dataset (the synthetic set's folder without one)."""
        run.cfg.model.backbone.checkpoint = run.checkpoint.path
        set_data_root(run.cfg, run.args.data_root or synthetic_root(run))

    def dataset(self, run: Run) -> tuple[str, str]:
        """The datasets' folder (the synthetic set is written there once without ``--data-root``), for the data
        step."""
        if not run.args.data_root:
            write_synthetic_once("ade20k", synthetic_root(run), SYNTHETIC_SCENES, int(run.cfg.get("scene_size", 96)),
                                 run.args.seed)
        return "ade20k", _datasets(run.cfg)[0]["data_root"]

    def use_data(self, run: Run, summary: DatasetSummary) -> None:
        """The checked dataset's classes: the datasets' class names and the heads' ``num_classes`` follow the data
        (``--classes``, ADE20K's 150 or the synthetic 9). A set other than the synthetic scenes is read by mmseg's
        ``BaseSegDataset`` (``.jpg`` / ``.png``, label 0 ignored: ``reduce_zero_label``), which takes any class
        names."""
        cfg = run.cfg
        if run.args.classes or not summary.synthetic:
            for ds in _datasets(cfg):
                ds.update(type="BaseSegDataset", img_suffix=".jpg", seg_map_suffix=".png", reduce_zero_label=True,
                          metainfo=dict(classes=tuple(summary.class_names)))
        for key in ("decode_head", "auxiliary_head"):
            heads = cfg.model.get(key)
            for head in heads if isinstance(heads, list) else [heads] if heads else []:
                head["num_classes"] = summary.num_classes

    def run(self, run: Run) -> Outcome | None:
        """Train through the mmseg Runner, test -> the outcome on rank 0 (None elsewhere)."""
        cfg, args = run.cfg, run.args
        if args.ms_flip and not cfg.get("tta_pipeline"):
            raise TransferError(f"--ms-flip: config {run.config_path} has no tta_pipeline")
        apply_image_rules(cfg)
        apply_run_args(cfg, run.work_dir, args.launcher, args.resume, args.seed, run.device)
        raw, rank, world = train_and_evaluate(cfg, args.ms_flip, run.checkpoint.file)
        if rank != 0:
            return None
        metrics = {k: round(v, 4) for k, v in metrics_from(raw, IOU_METRICS).items()}  # IoUMetric rounds to 0.01
        if "mIoU_ss" in raw:
            metrics["mIoU_ss"] = round(float(raw["mIoU_ss"]), 4)
        return Outcome(metrics, backbone_label(cfg), dataset_name(run.data, args.dataset), world,
                       extra=dict(test_mode="ms_flip" if args.ms_flip else "single_scale"))
