"""Transfer tasks: (task, checkpoint, config) -> an mmdet / mmseg / classification run -> a result record.

Every task goes through one path, ``skeleton.run_task``; a task is one module that supplies its config loading,
its run function and its metrics (see ``skeleton``).
"""
from __future__ import annotations

from ..errors import TransferError
from .skeleton import TASK_MODULES, Init, Outcome, Run, TransferArgs, run_task

__all__ = ["TASK_MODULES", "Init", "Outcome", "Run", "TransferArgs", "TransferError", "run_task"]
