"""Helpers shared by the transfer tasks, most for the OpenMMLab ones (COCO via mmdet, ADE20K via mmseg).

Everything here is task-agnostic: ``--cfg-options`` parsing and merging (into an mmengine ``Config`` or a
dataclass config), applying the transfer flags and the device to an mmengine run, letting mmengine resume
under torch's ``weights_only`` default, and picking metrics out of an mmengine ``test()`` result.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from ..config import check_settings
from ..errors import ConfigError
from ..models.sizes import model_size


def allow_mmengine_checkpoints() -> None:
    """Allow what mmengine pickles into its own checkpoints for ``torch.load(weights_only=True)``.

    torch >= 2.6 loads with ``weights_only=True`` by default; mmengine 0.10 stores its message hub
    (``HistoryBuffer`` of numpy arrays and scalars, plus the class's statistic functions, which pickle
    protocol 2 writes as ``getattr(HistoryBuffer, 'min')``) and the MultiStepLR ``Counter`` in every
    checkpoint, so ``--resume`` fails without this. ``getattr`` only looks attributes up: torch's
    unpickler still calls nothing outside the allow-list. Called for ``--resume`` only.
    """
    from collections import Counter

    import numpy as np
    from mmengine.logging import HistoryBuffer

    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    dtype_classes = [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    torch.serialization.add_safe_globals([HistoryBuffer, getattr, Counter, np.ndarray, np.dtype,
                                          multiarray._reconstruct, multiarray.scalar, *dtype_classes])


def _parse_value(text: str):
    from mmengine.config import DictAction

    return DictAction._parse_iterable(text)


def parse_cfg_options(items: list[str] | None) -> dict:
    """``["a.b=1", "c=[1,2]", "d=x,y"]`` -> ``{"a.b": 1, "c": [1, 2], "d": ["x", "y"]}`` (mmengine DictAction rules)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--cfg-options entry {item!r} is not KEY=VALUE")
        key, val = item.split("=", 1)
        out[key] = _parse_value(val)
    return out


def backbone_label(cfg) -> str:
    """The record's ``model`` for an mm config: the label of its backbone's width (``vit-b``), or ``vit-<D>d``."""
    width = int(cfg.model.backbone.embed_dim)
    try:
        return model_size(width).label
    except ConfigError:
        return f"vit-{width}d"


def load_config(path: str | Path):
    """mmengine ``Config.fromfile``; a missing file raises naming it."""
    from mmengine.config import Config

    if not Path(path).is_file():
        raise ConfigError(f"config {path} does not exist")
    return Config.fromfile(str(path))


def merge_options(cfg, options: dict):
    """``--cfg-options`` into an mmengine ``Config`` (a task's ``set_options``)."""
    cfg.merge_from_dict(options)
    return cfg


def dataclass_options(cfg, options: dict):
    """``--cfg-options`` into a dataclass config (a task's ``set_options``); an unknown key raises naming it."""
    names = {f.name for f in dataclasses.fields(cfg)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise ConfigError(f"--cfg-options: unknown key(s) {unknown}; known: {sorted(names)}")
    check_settings(type(cfg), options, "--cfg-options", base=cfg)
    return dataclasses.replace(cfg, **options)


def use_device(device: str) -> None:
    """Run mmengine on ``device``: mmengine 0.10 picks its device once, at import (``mmengine.device.utils.DEVICE``,
    which ``get_device`` returns and the Runner moves the model to), so ``--device cpu`` on a CUDA machine sets it."""
    import mmengine.device.utils as mm_device

    mm_device.DEVICE = device.split(":")[0]
    if device.startswith("cuda:"):
        torch.cuda.set_device(int(device.split(":")[1]))


def apply_run_args(cfg, work_dir: str | Path, launcher: str = "none", resume: bool = False, seed: int = 0,
                   device: str = "cpu") -> None:
    """Set the work dir, launcher, resume flag, seed and device of an mmengine run (config in place)."""
    cfg.work_dir = str(work_dir)
    cfg.launcher = launcher
    cfg.resume = bool(resume)
    if resume:
        allow_mmengine_checkpoints()
    cfg.randomness = dict(seed=seed, deterministic=False)
    if launcher != "none" and device == "cpu":
        cfg.env_cfg = dict(cfg.get("env_cfg", {}), dist_cfg=dict(backend="gloo"))
    use_device(device)


PIPELINE_KEYS = ("train_dataloader", "val_dataloader", "test_dataloader", "train_pipeline", "test_pipeline",
                 "tta_pipeline")


def apply_image_rules(cfg) -> None:
    """Every ``LoadImageFromFile`` of the config's pipelines becomes ``backbones.loading.CheckedLoadImageFromFile``:
    the stored pixels (EXIF orientation ignored, like the annotations) and a DataError naming a bad file."""
    import backbones.loading  # noqa: F401  (registers CheckedLoadImageFromFile)

    def walk(node) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("LoadImageFromFile", "mmcv.LoadImageFromFile"):
                node["type"] = "CheckedLoadImageFromFile"
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    for key in PIPELINE_KEYS:
        walk(cfg.get(key))


def start_cpu_distributed(cfg) -> None:
    """Multi-process runs on the CPU (torchrun + gloo): start the process group before mmengine's Runner.

    mmengine 0.10's ``init_dist`` calls ``torch.cuda.set_device`` and its DDP wrapper passes
    ``device_ids=[LOCAL_RANK]``; both fail for CPU modules. The Runner skips ``init_dist`` when a
    process group exists, and ``model_wrapper_cfg`` with ``device_ids=None`` wraps a CPU model.
    """
    from mmengine.device import get_device

    if cfg.get("launcher", "none") == "none" or get_device() != "cpu":
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="gloo")
    cfg.model_wrapper_cfg = dict(type="MMDistributedDataParallel", broadcast_buffers=False, device_ids=None,
                                 find_unused_parameters=cfg.get("find_unused_parameters", False))


def build_runner(cfg, checkpoint=None):
    """mmengine's Runner of ``cfg``; the backbone it builds gets ``checkpoint`` (the file the pipeline read once,
    a ``CheckpointFile``) for its ``init_weights``, which ``Runner.train`` calls before the first iteration."""
    from mmengine.runner import Runner
    from mmengine.utils import import_modules_from_strings

    from backbones.checkpoint_init import hand_over_checkpoint

    # Config.fromfile imported the file's custom_imports; --cfg-options may have named more
    import_modules_from_strings(**cfg.get("custom_imports", dict(imports=[])))
    start_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    hand_over_checkpoint(runner.model, checkpoint)
    return runner


def train_and_test(cfg, checkpoint=None) -> tuple[dict, int, int]:
    """Build the mmengine Runner (``build_runner``), train, then evaluate the test split -> (metrics, rank, world
    size)."""
    from mmengine.dist import get_dist_info

    runner = build_runner(cfg, checkpoint)
    runner.train()
    metrics = runner.test() if cfg.get("test_dataloader") else runner.val()
    rank, world = get_dist_info()
    return dict(metrics or {}), rank, world


def metrics_from(raw: dict, names: dict[str, str], scale: float = 1.0) -> dict[str, float]:
    """Rename mmengine metric keys (``names``: record key -> mmengine key) and scale (e.g. 100 for percent).

    A key the evaluator did not produce raises a KeyError listing what it produced.
    """
    missing = [v for v in names.values() if v not in raw]
    if missing:
        raise KeyError(f"evaluation produced no {missing}; got {sorted(raw)}")
    return {k: float(raw[v]) * scale for k, v in names.items()}
