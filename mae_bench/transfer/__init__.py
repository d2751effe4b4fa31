"""Transfer tasks: (task, checkpoint, config) -> an mmdet / mmseg / classification run -> a result record.

Each task module exposes ``run(args: TransferArgs) -> dict | None``: it trains and evaluates and
returns the record (``mae_bench.results.make_record``) on rank 0, None on other ranks.
``run_task`` writes the record only after the whole run succeeded, so a failed run leaves none.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from ..results import write_record

TASK_MODULES = {
    "coco": "mae_bench.transfer.coco",
    "ade20k": "mae_bench.transfer.ade20k",
    "finetune": "mae_bench.transfer.classification",
    "linprobe": "mae_bench.transfer.classification",
    "knn": "mae_bench.transfer.knn",
    "linprobe_grid": "mae_bench.transfer.probes",
    "attentive": "mae_bench.transfer.probes",
    "ade20k_linear": "mae_bench.transfer.ade20k_linear",
}


class TransferError(ValueError):
    """Bad transfer input (task, files, flags); the message names it."""


@dataclass
class TransferArgs:
    task: str
    ckpt: str | None  # None or "random": random initialisation
    config: str | None = None
    data_root: str | None = None  # None: the synthetic set, generated under work_dir
    work_dir: str | None = None
    gpus: int = 1
    launcher: str = "none"  # none | pytorch | slurm
    cfg_options: list[str] = field(default_factory=list)  # ["k=v", ...]
    resume: bool = False
    runs_dir: str = "results/runs"
    seed: int = 0
    device: str | None = None
    # classification (finetune / linprobe)
    model: str | None = None  # vit-t / vit-s / vit-b / vit-l / vit-h
    tune_blocks: int | None = None
    global_pool: bool | None = None
    epochs: int | None = None
    batch_size: int | None = None
    # segmentation
    ms_flip: bool = False
    # data
    classes: str | None = None  # ADE20K layout: class-name file of labels 1..N
    # labels for the record
    dataset: str | None = None  # default: data.check.dataset_name (folder name; official name only when official)
    init: str | None = None
    pretrain_method: str | None = None


def run_task(args: TransferArgs) -> Path | None:
    if args.task not in TASK_MODULES:
        raise TransferError(f"unknown --task {args.task!r}; known: {', '.join(TASK_MODULES)}")
    module = importlib.import_module(TASK_MODULES[args.task])
    record = module.run(args)
    if record is None:
        return None
    return write_record(record, args.runs_dir)
