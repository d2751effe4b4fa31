"""The one path every transfer task goes through, from the parsed flags to the written record.

    tools/transfer.py (flags -> ``TransferArgs``) -> ``run_task``:
    ``prepare``: resolve ``--ckpt`` (a file, or a published name found in the local cache; an uncached name stops
        here, before anything is built) -> the task's ``config_path`` and ``load_config`` (file + the task's own
        flags) -> ``set_inputs`` (data root, checkpoint path) -> ``set_options`` (``--cfg-options``, last)
    -> ``check_data``: the task's ``dataset`` checked by ``mae_bench.data.check`` (listings, headers, label maps:
        a ``DataError`` naming the files, before any checkpoint is read or model built) -> ``use_data``
    -> ``Checkpoint.read``: the checkpoint file read once (its bytes hashed, loaded, format detected, labels)
    -> the task's ``run`` -> the record (written here, nowhere else, after the whole run succeeded).

The task is a class (``task.Task``); ``tasks.TASKS`` maps ``--task`` to it. ``--ckpt random`` is the only way to
random initialisation (``Run.checkpoint.source`` is None). The record keeps a published name as its ``init`` and
the resolution as ``ckpt_source``; its ``dataset`` comes from the checked data (``data.check.dataset_name``).
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ..data.check import DatasetSummary, check_dataset
from ..engine.dist import launch_rank
from ..engine.outdir import owned
from ..errors import CheckpointError, ConfigError, TransferError
from ..hub import Source, file_source, is_name, resolve
from ..resources import config_name
from ..results import RECORD_FIELDS, make_record, now_iso, write_record
from .mm_common import parse_cfg_options
from .task import RANDOM, Checkpoint, Run, Task, TransferArgs, work_dir_label
from .tasks import TASKS


def task_for(name: str) -> Task:
    """The task object of ``--task name``."""
    if name not in TASKS:
        raise TransferError(f"unknown --task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]()


def checkpoint_source(value: str | None, cache: str | None = None) -> Source | None:
    """``--ckpt`` -> its file and provenance (None for ``random``): a file path as it is, a name resolved in the
    local cache only (``hub.resolve``); an empty value, a missing file or an uncached name raises naming it."""
    if value == RANDOM:
        return None
    if value is None or not str(value).strip():
        raise TransferError("--ckpt is empty: give a checkpoint file, a published name (zoo:, timm:, hf-hub:, "
                            "https://), or --ckpt random for random initialisation")
    if is_name(value):
        return resolve(str(value), cache)
    if not Path(value).is_file():
        raise CheckpointError(f"--ckpt {value} does not exist")
    return file_source(str(value))


def read_init(args: TransferArgs) -> Checkpoint:
    """``--ckpt`` resolved and read, as a run does it (for tools and tests that want only the labels)."""
    return Checkpoint(checkpoint_source(args.ckpt, args.cache)).read(args)


def resolve_device(requested: str | None) -> str:
    """``--device``: cpu, cuda or cuda:N; default cuda when available. cuda without CUDA is an error."""
    if requested is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested != "cpu" and not requested.startswith("cuda"):
        raise ConfigError(f"--device {requested!r}: use cpu, cuda or cuda:N")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {requested}: CUDA is not available here (torch {torch.__version__}, built for "
                          f"CUDA {torch.version.cuda}); pass --device cpu to run on the CPU")
    return requested


def prepare(args: TransferArgs, task: Task) -> Run:
    """Config file + task flags -> data root and checkpoint -> ``--cfg-options`` last, the same order for every task."""
    checkpoint = Checkpoint(checkpoint_source(args.ckpt, args.cache))  # fails before anything is built or written
    config_path = task.config_path(args)
    cfg = task.load_config(config_path, args)
    label = work_dir_label(checkpoint.source)
    work_dir = Path(args.work_dir or Path("work_dirs") / args.task / f"{config_path.stem}_{label}")
    run = Run(args, checkpoint, cfg, config_path, parse_cfg_options(args.cfg_options), work_dir)
    task.set_inputs(run)
    run.cfg = task.set_options(run.cfg, run.options)
    run.device = resolve_device(args.device or getattr(run.cfg, "device", None))
    return run


def check_data(task: Task, run: Run) -> DatasetSummary | None:
    """The data step: the task's dataset checked before any checkpoint is read or model built."""
    found = task.dataset(run)
    if found is None:
        return None
    kind, root = found
    summary = check_dataset(kind, str(root), classes=run.args.classes)
    summary.raise_if_problems()
    task.use_data(run, summary)
    return summary


def run_task(args: TransferArgs) -> Path | None:
    """Run ``args.task`` through the pipeline; the record's path on rank 0, None on other ranks.

    The record is written only after the whole run succeeded, so a failed run leaves none."""
    task = task_for(args.task)
    clash = sorted(set(args.record_extra) & {*RECORD_FIELDS, "pretrain_variant", "work_dir", "device", "git_describe"})
    if clash:
        raise TransferError(f"record_extra may not replace the record fields {clash}")
    started, t0 = now_iso(), time.time()
    run = prepare(args, task)
    with owned(run.work_dir, "--work-dir", main=launch_rank() == 0):  # one live run per work dir (docs/faults.md)
        return _run_owned(task, run, started, t0)


def _run_owned(task: Task, run: Run, started: str, t0: float) -> Path | None:
    args = run.args
    run.data = check_data(task, run)
    run.checkpoint.read(args)
    out = task.run(run)
    if out is None:
        return None
    missing = [m for m in task.metrics if m not in out.metrics]
    if missing:
        raise RuntimeError(f"task {args.task} produced no {missing}; got {sorted(out.metrics)}")
    extra = dict(out.extra)
    if run.checkpoint.variant():
        extra["pretrain_variant"] = run.checkpoint.variant()
    extra.update(args.record_extra)
    record = make_record(args.task, out.dataset, out.metrics, model=out.model, **run.checkpoint.labels(),
                         **run.checkpoint.record_fields(), config=config_name(run.config_path),
                         cfg_options=run.options, seed=args.seed if out.seed is None else out.seed,
                         world_size=out.world_size, started=started, wall_time_s=time.time() - t0,
                         work_dir=str(run.work_dir), device=run.device, **extra)
    return write_record(record, args.runs_dir)
