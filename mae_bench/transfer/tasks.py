"""The task table: each ``--task`` name and the class that runs it (``task.Task``)."""
from __future__ import annotations

from .ade20k import ADE20KTask
from .ade20k_linear import ADE20KLinearTask
from .classification import FinetuneTask, LinprobeTask
from .coco import CocoTask
from .knn import KnnTask
from .probes import AttentiveTask, LinprobeGridTask
from .task import Task

TASKS: dict[str, type[Task]] = {
    "coco": CocoTask,
    "ade20k": ADE20KTask,
    "finetune": FinetuneTask,
    "linprobe": LinprobeTask,
    "knn": KnnTask,
    "linprobe_grid": LinprobeGridTask,
    "attentive": AttentiveTask,
    "ade20k_linear": ADE20KLinearTask,
}
