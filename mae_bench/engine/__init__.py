"""Training engine: one loop with hooks, distributed setup, checkpoints, optimiser groups."""
from .dist import DistInfo, init_distributed
from .hooks import CheckpointHook, LogHook
from .optim import cosine_lr, layer_id, layer_scale, param_groups
from .trainer import Hook, NonFiniteLoss, Schedule, Trainer
from .training_state import load_training_state, resume_path, save_checkpoint

__all__ = ["load_training_state", "resume_path", "save_checkpoint", "DistInfo", "init_distributed", "CheckpointHook",
           "LogHook", "cosine_lr", "layer_id", "layer_scale", "param_groups", "Hook", "NonFiniteLoss", "Schedule",
           "Trainer"]
