"""Transfer tasks: (task, checkpoint, config) -> an mmdet / mmseg / classification run -> a result record.

Every task goes through one path, ``skeleton.run_task``; a task is a ``task.Task`` subclass, and ``tasks.TASKS``
maps each ``--task`` name to its class.
"""
from __future__ import annotations

from ..errors import TransferError
from .skeleton import run_task
from .task import Checkpoint, Outcome, Run, Task, TransferArgs
from .tasks import TASKS

__all__ = ["TASKS", "Checkpoint", "Outcome", "Run", "Task", "TransferArgs", "TransferError", "run_task"]
