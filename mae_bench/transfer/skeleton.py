"""The one path every transfer task goes through, from the parsed flags to the written record.

    parse (tools/transfer.py) -> load the config (the task's ``load_config``: file + the task's own flags)
    -> apply the data root and the checkpoint (the task's ``set_inputs``) -> ``--cfg-options`` last (``set_options``)
    -> check the data (``check_data``) -> read the checkpoint once (its weights, its sha256 and its labels from one
    read) -> run the task (``run``) -> write the record (here, nowhere else).

The data step asks the task for its dataset (``dataset``: the layout and the folder; the synthetic set is written
once where no ``--data-root`` is given) and runs the dataset check (``mae_bench.data.check``, cheap: listings,
headers, label maps) before any checkpoint is read or model built; problems raise a ``DataError`` naming the files.
The summary is ``Run.data``; the record's ``dataset`` comes from it (``data.check.dataset_name``: ``--dataset``,
else the folder's name, the official name only for the official split sizes).

A task is one module named in ``TASK_MODULES`` that supplies:

- ``METRICS``: the metric names every record of the task holds;
- ``load_config(args) -> (config, path)``: the config file (default: the task's quick config) with the task's own
  flags (``--model``, ``--epochs`` ...) applied;
- ``set_options(config, options) -> config``: ``--cfg-options`` (``mm_common.merge_options`` for mmengine configs,
  ``mm_common.dataclass_options`` for dataclass configs);
- ``set_inputs(config, run) -> config`` (optional): the data root and the checkpoint path into the config;
- ``dataset(run) -> (kind, folder) | None``: the layout (``imagefolder``, ``coco``, ``ade20k``) and folder the data
  step checks (None: nothing to check, e.g. a ready-made feature set);
- ``use_data(run, summary)`` (optional): what the task's config takes from the checked data (class names);
- ``run(run: Run) -> Outcome | None``: train / evaluate and return the metrics (None on ranks other than 0).

``--ckpt random`` is the only way to random initialisation; ``Run.init.path`` is None for it, and nothing
downstream looks at the string again. A published checkpoint given by name (``zoo:``, ``timm:``, ``hf-hub:``,
``https://``; ``mae_bench.hub``) is resolved here, once, to its file in the local cache (never downloaded: an
uncached name stops the run before anything is built); the tasks see only that file (``Run.ckpt``), and the
record keeps the name as its ``init`` and the resolution as ``ckpt_source``. Inside ``run`` the checkpoint is held
in memory (``checkpoints.preloaded``): a backbone's ``init_weights`` or a classifier restore that loads ``--ckpt``
by its path gets the dict already read, so the file is read once per process.
"""
from __future__ import annotations

import importlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..checkpoints import CheckpointFile, epochs_completed, preloaded, read_checkpoint, trained_by
from ..data.check import DatasetSummary, check_dataset
from ..engine.dist import launch_rank
from ..engine.outdir import owned
from ..errors import CheckpointError, ConfigError, TransferError
from ..hub import Source, file_source, is_name, resolve
from ..methods.base import VARIANT_FIELDS
from ..results import PRETRAIN_METHODS, RECORD_FIELDS, make_record, now_iso, write_record

REPO = Path(__file__).resolve().parents[2]
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
RANDOM = "random"  # --ckpt random: random initialisation


@dataclass
class TransferArgs:
    task: str
    ckpt: str  # a checkpoint file, or "random" for random initialisation
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
    # data (issue 18): class names of an ADE20K-layout set that is not ADE20K; the dataset name of the record
    classes: str | None = None
    dataset: str | None = None
    # labels for the record
    init: str | None = None
    pretrain_method: str | None = None
    cache: str | None = None  # the checkpoint cache of --ckpt names (default: MAE_BENCH_CACHE, TORCH_HOME, HF_HOME)
    # extra record fields (e.g. the sweep, axis and value of tools/sweep.py); never a field of RECORD_FIELDS
    record_extra: dict = field(default_factory=dict)


@dataclass
class Init:
    """The initialisation of a transfer: ``--ckpt`` read once (None for ``--ckpt random``) and its record labels."""
    ckpt: CheckpointFile | None
    name: str
    method: str
    epochs: int | None
    source: Source | None = None  # how a --ckpt name was resolved (None for a file or random)

    @property
    def path(self) -> str | None:
        return self.ckpt.path if self.ckpt else None

    @property
    def sha256(self) -> str | None:
        return self.ckpt.sha256 if self.ckpt else None

    def labels(self) -> dict:
        return dict(init=self.name, pretrain_method=self.method, pretrain_epochs=self.epochs)

    def record_fields(self) -> dict:
        """The record's checkpoint fields: ``ckpt``, ``ckpt_sha256`` and, for a name, ``ckpt_source``."""
        out = dict(ckpt=self.path, ckpt_sha256=self.sha256)
        if self.source is not None and self.ckpt is not None:
            out["ckpt_source"] = self.source.provenance(self.ckpt.sha256)
        return out

    def variant(self) -> dict:
        """The MAE ablation settings a mae-bench checkpoint was pretrained with (``VARIANT_FIELDS`` of its saved
        config; empty for other files and for checkpoints older than those fields)."""
        config = self.ckpt.obj.get("config") if self.ckpt and self.ckpt.format == "mae-bench" else None
        if not isinstance(config, dict) or "mask_sampling" not in config:
            return {}
        return {k: config[k] for k in VARIANT_FIELDS if k in config}


@dataclass
class Run:
    """What a task's ``run`` gets: the flags, its config (inputs and options applied), where to work, the init."""
    args: TransferArgs
    ckpt: str | None  # the checkpoint file (a --ckpt name resolved to its cached file); None: random initialisation
    cfg: object
    config_path: Path
    options: dict
    work_dir: Path
    device: str = "cpu"
    init: Init | None = None  # read after the data check
    source: Source | None = None  # --ckpt resolved (None: random)
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


def task_module(task: str):
    if task not in TASK_MODULES:
        raise TransferError(f"unknown --task {task!r}; known: {', '.join(TASK_MODULES)}")
    return importlib.import_module(TASK_MODULES[task])


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


def work_dir_label(source: Source | None) -> str:
    """The work-dir part of a ``--ckpt``: ``init_name`` of a file, the name of a published checkpoint made safe
    for a folder name (``zoo-mae-vit-b``)."""
    if source is None or source.kind == "file":
        return init_name(source.path if source else None)
    return re.sub(r"[^A-Za-z0-9_.@-]+", "-", source.name)


def init_name(path: str | None) -> str:
    """The init label of a checkpoint path: its file stem, prefixed by the run folder for ``checkpoint-*`` files
    (``mae_vit_b@checkpoint-200`` and ``mae_vit_b@checkpoint-last`` are told apart); ``random`` for none."""
    if path is None:
        return RANDOM
    p = Path(path)
    return f"{p.parent.name}@{p.stem}" if p.stem.startswith("checkpoint") and p.parent.name else p.stem


def read_init(args: TransferArgs, source: Source | None = None) -> Init:
    """Read ``--ckpt`` once (``source``: already resolved by ``prepare``) -> its labels: the method and epochs the
    file tells, else its zoo entry's (``--pretrain-method`` where neither can), the init name (``--init``, the
    name a published checkpoint was given by, a mae-bench classifier's own init, else from the path)."""
    source = source or checkpoint_source(args.ckpt, args.cache)
    if source is None:
        return Init(None, args.init or RANDOM, args.pretrain_method or RANDOM, None)
    path, entry = source.path, source.entry
    ckpt = read_checkpoint(path, source.expected, source.name)
    method = args.pretrain_method or trained_by(ckpt.obj, ckpt.format) or (entry.method if entry else None)
    if method is None:
        raise TransferError(f"--pretrain-method is required: {source.name} is a {ckpt.format} checkpoint, whose "
                            f"layout does not say how it was trained (one of {', '.join(PRETRAIN_METHODS)})")
    epochs = epochs_completed(ckpt.obj, ckpt.format)
    epochs = entry.epochs if epochs is None and entry else epochs
    config = ckpt.obj.get("config") if isinstance(ckpt.obj.get("config"), dict) else {}
    saved_name = (config.get("init_labels") or {}).get("init") if ckpt.format == "mae-bench" else None
    name = args.init or (source.name if source.kind != "file" else saved_name or init_name(path))
    return Init(ckpt, name, method, epochs, source if source.kind != "file" else None)


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


def config_name(path: Path) -> str:
    """The config as recorded: relative to the repository when it lives there."""
    full = Path(path).resolve()
    return str(full.relative_to(REPO)) if full.is_relative_to(REPO) else str(path)


def prepare(args: TransferArgs, module) -> Run:
    """Config file + task flags -> data root and checkpoint -> ``--cfg-options`` last, the same order for every task."""
    from .mm_common import parse_cfg_options

    source = checkpoint_source(args.ckpt, args.cache)  # fails before anything is built or written
    cfg, config_path = module.load_config(args)
    label = work_dir_label(source)
    work_dir = Path(args.work_dir or Path("work_dirs") / args.task / f"{Path(config_path).stem}_{label}")
    run = Run(args, source.path if source else None, cfg, Path(config_path), parse_cfg_options(args.cfg_options),
              work_dir, source=source)
    if hasattr(module, "set_inputs"):
        run.cfg = module.set_inputs(run.cfg, run)
    run.cfg = module.set_options(run.cfg, run.options)
    run.device = resolve_device(args.device or getattr(run.cfg, "device", None))
    return run


def check_data(module, run: Run) -> DatasetSummary | None:
    """The data step: the task's dataset checked before any checkpoint is read or model built."""
    found = module.dataset(run)
    if found is None:
        return None
    kind, root = found
    summary = check_dataset(kind, str(root), classes=run.args.classes)
    summary.raise_if_problems()
    if hasattr(module, "use_data"):
        module.use_data(run, summary)
    return summary


def run_task(args: TransferArgs) -> Path | None:
    """Run ``args.task`` through the skeleton; the record's path on rank 0, None on other ranks.

    The record is written only after the whole run succeeded, so a failed run leaves none."""
    module = task_module(args.task)
    clash = sorted(set(args.record_extra) & {*RECORD_FIELDS, "pretrain_variant", "work_dir", "device", "git_describe"})
    if clash:
        raise TransferError(f"record_extra may not replace the record fields {clash}")
    started, t0 = now_iso(), time.time()
    run = prepare(args, module)
    with owned(run.work_dir, "--work-dir", main=launch_rank() == 0):  # one live run per work dir (docs/faults.md)
        return _run_owned(args, module, run, started, t0)


def _run_owned(args: TransferArgs, module, run: Run, started: str, t0: float) -> Path | None:
    run.data = check_data(module, run)
    run.init = read_init(args, run.source)
    with preloaded(run.init.ckpt):
        out = module.run(run)
    if out is None:
        return None
    missing = [m for m in module.METRICS if m not in out.metrics]
    if missing:
        raise RuntimeError(f"task {args.task} produced no {missing}; got {sorted(out.metrics)}")
    extra = dict(out.extra)
    if run.init.variant():
        extra["pretrain_variant"] = run.init.variant()
    extra.update(args.record_extra)
    record = make_record(args.task, out.dataset, out.metrics, model=out.model, **run.init.labels(),
                         **run.init.record_fields(), config=config_name(run.config_path),
                         cfg_options=run.options, seed=args.seed if out.seed is None else out.seed,
                         world_size=out.world_size, started=started, wall_time_s=time.time() - t0,
                         work_dir=str(run.work_dir), device=run.device, **extra)
    return write_record(record, args.runs_dir)
