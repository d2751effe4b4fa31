"""What a transfer task is: the ``Task`` class with its hooks, and the objects the pipeline hands it.

``skeleton.run_task`` calls a task's hooks in one order for every task (docs/architecture.md, "Transfer"):

    config_path -> load_config -> set_inputs -> set_options        (``skeleton.prepare``)
    -> dataset -> [dataset check] -> use_data                       (``skeleton.check_data``)
    -> [--ckpt read once] -> run -> [record]                        (``skeleton.run_task``)

A task must supply ``dataset`` and ``run`` (the base class raises ``NotImplementedError`` saying what to write);
every other hook has a default that suits an mmengine-config task. ``mae_bench.transfer.tasks.TASKS`` maps each
``--task`` name to its class.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ..checkpoints import CheckpointFile, epochs_completed, read_checkpoint, trained_by
from ..data.check import DatasetSummary
from ..errors import TransferError
from ..hub import Source
from ..methods.base import VARIANT_FIELDS
from ..resources import config_file, find_config
from ..results import PRETRAIN_METHODS

RANDOM = "random"  # --ckpt random: random initialisation


@dataclass
class TransferArgs:
    """The flags of ``tools/transfer.py`` (one run)."""
    task: str
    ckpt: str  # a checkpoint file, a published name, or "random" for random initialisation
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
    model: str | None = None  # a model size (mae_bench.models.sizes)
    tune_blocks: int | None = None
    global_pool: bool | None = None
    epochs: int | None = None
    batch_size: int | None = None
    # segmentation
    ms_flip: bool = False
    # data: class names of an ADE20K-layout set that is not ADE20K (docs/datasets.md); the record's dataset name
    classes: str | None = None
    dataset: str | None = None
    # labels for the record
    init: str | None = None
    pretrain_method: str | None = None
    cache: str | None = None  # the checkpoint cache of --ckpt names (default: MAE_BENCH_CACHE, TORCH_HOME, HF_HOME)
    # extra record fields (e.g. the sweep, axis and value of tools/sweep.py); never a field of RECORD_FIELDS
    record_extra: dict = field(default_factory=dict)


@dataclass
class Checkpoint:
    """``--ckpt`` of a run, the one attribute that holds it (``Run.checkpoint``).

    Resolved in ``prepare`` (``source``: its file and, for a published name, how the name was resolved; None for
    ``--ckpt random``) and read once after the data check (``read``: ``file``, the bytes hashed, loaded and their
    format detected, and the record labels). Tasks load weights from ``file``; ``path`` is only for configs that
    name a file."""
    source: Source | None
    file: CheckpointFile | None = None
    name: str = RANDOM
    method: str = RANDOM
    epochs: int | None = None

    @property
    def path(self) -> str | None:
        return self.source.path if self.source else None

    @property
    def sha256(self) -> str | None:
        return self.file.sha256 if self.file else None

    def read(self, args: TransferArgs) -> "Checkpoint":
        """Read the file once -> its labels: the method and epochs the file tells, else its zoo entry's
        (``--pretrain-method`` where neither can), the init name (``--init``, the name a published checkpoint was
        given by, a mae-bench classifier's own init, else from the path)."""
        if self.source is None:
            self.name, self.method = args.init or RANDOM, args.pretrain_method or RANDOM
            return self
        source, entry = self.source, self.source.entry
        self.file = ckpt = read_checkpoint(source.path, source.expected, source.name)
        method = args.pretrain_method or trained_by(ckpt.obj, ckpt.format) or (entry.method if entry else None)
        if method is None:
            raise TransferError(f"--pretrain-method is required: {source.name} is a {ckpt.format} checkpoint, "
                                f"whose layout does not say how it was trained (one of {', '.join(PRETRAIN_METHODS)})")
        epochs = epochs_completed(ckpt.obj, ckpt.format)
        self.epochs = entry.epochs if epochs is None and entry else epochs
        config = ckpt.obj.get("config") if isinstance(ckpt.obj.get("config"), dict) else {}
        saved_name = (config.get("init_labels") or {}).get("init") if ckpt.format == "mae-bench" else None
        self.name = args.init or (source.name if source.kind != "file" else saved_name or init_name(source.path))
        self.method = method
        return self

    def labels(self) -> dict:
        return dict(init=self.name, pretrain_method=self.method, pretrain_epochs=self.epochs)

    def record_fields(self) -> dict:
        """The record's checkpoint fields: ``ckpt``, ``ckpt_sha256`` and, for a name, ``ckpt_source``."""
        out = dict(ckpt=self.path, ckpt_sha256=self.sha256)
        if self.source is not None and self.source.kind != "file" and self.file is not None:
            out["ckpt_source"] = self.source.provenance(self.file.sha256)
        return out

    def variant(self) -> dict:
        """The MAE ablation settings a mae-bench checkpoint was pretrained with (``VARIANT_FIELDS`` of its saved
        config; empty for other files and for checkpoints older than those fields)."""
        config = self.file.obj.get("config") if self.file and self.file.format == "mae-bench" else None
        if not isinstance(config, dict) or "mask_sampling" not in config:
            return {}
        return {k: config[k] for k in VARIANT_FIELDS if k in config}


def init_name(path: str | None) -> str:
    """The init label of a checkpoint path: its file stem, prefixed by the run folder for ``checkpoint-*`` files
    (``mae_vit_b@checkpoint-200`` and ``mae_vit_b@checkpoint-last`` are told apart); ``random`` for none."""
    if path is None:
        return RANDOM
    p = Path(path)
    return f"{p.parent.name}@{p.stem}" if p.stem.startswith("checkpoint") and p.parent.name else p.stem


def work_dir_label(source: Source | None) -> str:
    """The work-dir part of a ``--ckpt``: ``init_name`` of a file, the name of a published checkpoint made safe
    for a folder name (``zoo-mae-vit-b``)."""
    if source is None or source.kind == "file":
        return init_name(source.path if source else None)
    return re.sub(r"[^A-Za-z0-9_.@-]+", "-", source.name)


@dataclass
class Run:
    """What a task's hooks get: the flags, its config (inputs and options applied), where to work, the checkpoint."""
    args: TransferArgs
    checkpoint: Checkpoint
    cfg: object
    config_path: Path
    options: dict
    work_dir: Path
    device: str = "cpu"
    data: DatasetSummary | None = None  # the checked dataset (the record's dataset name); None: nothing checked


@dataclass
class Outcome:
    """A task's result: record metrics and labels, and any task-specific record fields (``extra``)."""
    metrics: dict
    model: str
    dataset: str
    world_size: int = 1
    seed: int | None = None  # default: --seed
    extra: dict = field(default_factory=dict)


class Task:
    """One ``--task``. Subclasses set ``name`` and ``metrics`` and supply ``dataset`` and ``run``; the other hooks
    have defaults for a task configured by an mmengine config file (``configs/<name>/quick.py``)."""

    name: ClassVar[str] = ""
    metrics: ClassVar[tuple[str, ...]] = ()  # the metric names every record of the task holds

    # -- configuration ------------------------------------------------------------------------------------------

    def default_config(self, args: TransferArgs) -> Path:
        """The config file without ``--config``: the task's quick config."""
        return config_file(f"{self.name}/quick.py")

    def config_path(self, args: TransferArgs) -> Path:
        """``--config`` as given (a ``configs/...`` path also works from another folder), else the default."""
        return find_config(args.config) if args.config else self.default_config(args)

    def load_config(self, path: Path, args: TransferArgs):
        """The config object of ``path`` with the task's own flags applied (default: an mmengine ``Config``)."""
        from .mm_common import load_config

        return load_config(path)

    def set_inputs(self, run: Run) -> None:
        """Put the data root and the checkpoint into ``run.cfg`` (default: nothing)."""

    def set_options(self, cfg, options: dict):
        """``--cfg-options`` into the config, last (default: mmengine's ``merge_from_dict``) -> the config."""
        from .mm_common import merge_options

        return merge_options(cfg, options)

    # -- data ---------------------------------------------------------------------------------------------------

    def dataset(self, run: Run) -> tuple[str, str | Path] | None:
        """The layout (``imagefolder``, ``coco``, ``ade20k``) and folder the data step checks; None when there is
        nothing to check (a ready-made feature set)."""
        raise NotImplementedError(f"task {self.name!r}: write dataset(run) -> (layout, folder) | None, the data the "
                                  f"pipeline checks before any checkpoint is read")

    def use_data(self, run: Run, summary: DatasetSummary) -> None:
        """Take what the config needs from the checked data, e.g. class names (default: nothing)."""

    # -- the run ------------------------------------------------------------------------------------------------

    def run(self, run: Run) -> Outcome | None:
        """Train / evaluate -> the outcome on rank 0, None on other ranks."""
        raise NotImplementedError(f"task {self.name!r}: write run(run) -> Outcome | None, which trains and "
                                  f"evaluates from run.cfg and run.checkpoint.file")
