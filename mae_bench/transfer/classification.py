"""ImageNet fine-tuning, partial fine-tuning (``tune_blocks``) and linear probing on the shared trainer.

``FinetuneTask`` (``--task finetune``) and ``LinprobeTask`` (``--task linprobe``), both ``ClassificationTask``:
config (``configs/finetune/*.py``, ``configs/linprobe/*.py``) -> ImageFolder data (train/ with the recipe's
augmentation, val/ with resize + centre crop) -> ``ViTClassifier`` with the encoder of ``--ckpt`` -> ``engine.Trainer``
with hooks for evaluation (top-1/top-5 on val/ every epoch, every process its own shard, counts
summed), best/last checkpoints, EMA, JSON-line log and TensorBoard -> the metrics of the record.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, DistributedSampler, Sampler
from torchvision import transforms
from torchvision.transforms import InterpolationMode

from ..checkpoints import CheckpointFile, load_encoder_state
from ..config import ConfigError, at_least, build, fraction, load_config_file
from ..data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DataError,
    build_imagefolder,
    check_same_classes,
    eval_transform,
)
from ..data.check import dataset_name
from ..data.imagefolder import linprobe_transform
from ..data.writers import write_synthetic_once
from ..engine.amp import AMP_MODES, autocast, grad_scaler, resolve_amp
from ..engine.dist import DistInfo, cleanup, init_distributed, launch_world_size
from ..engine.hooks import CheckpointHook, EmaHook, Hook, LogHook
from ..engine.optim import adamw, lars, param_groups
from ..engine.trainer import Schedule, Trainer, accumulation
from ..engine.training_state import (
    check_same_config,
    load_training_state,
    restore_state,
    resume_path,
    save_checkpoint,
    unwrap,
)
from ..models.classifier import ViTClassifier, create_classifier
from ..models.sizes import MODEL_SIZES, size_label
from ..progress import progress_bar
from ..resources import config_file
from .mm_common import dataclass_options
from .task import Outcome, Run, Task, TransferArgs

log = logging.getLogger("mae_bench.classification")


@dataclass
class ClassificationConfig:
    """Defaults = the official ViT-B fine-tuning recipe (docs/references.md); configs override them."""
    model: str = "vit-b"  # vit-t / vit-s / vit-b / vit-l / vit-h
    input_size: int = 224
    patch_size: int | None = None
    global_pool: bool = True  # False: cls token
    head_type: str = "linear"  # linear | bn_linear (linear probe)
    head_init_std: float = 2e-5
    tune_blocks: int | None = None  # None: full fine-tuning; k: only the last k blocks + norms + head
    train_norm: bool = True  # False: the final norm stays frozen with the encoder (linear probe)
    drop_path: float = 0.1
    optimizer: str = "adamw"  # adamw | lars
    epochs: int = 100
    batch_size: int = 64  # per process
    effective_batch: int | None = 1024  # reached exactly with accum_iter = effective_batch / (batch_size x processes)
    accum_iter: int | None = None  # explicit accumulation (with effective_batch None); must agree when both are set
    blr: float = 5e-4
    lr: float | None = None  # absolute lr; default blr x effective batch / 256
    min_lr: float = 1e-6
    weight_decay: float = 0.05
    layer_decay: float | None = 0.65
    warmup_epochs: float = 5
    clip_grad: float | None = None
    augment: str = "randaug"  # randaug (timm create_transform) | rrc (torchvision RandomResizedCrop + flip) | tf_rrc
    # (the official linear probe's one-draw crop + flip, mae_bench.data.imagefolder.TFRandomResizedCrop)
    crop_scale: tuple[float, float] = (0.08, 1.0)  # RandomResizedCrop area range (the recipes: torchvision's default)
    aa: str | None = "rand-m9-mstd0.5-inc1"
    reprob: float = 0.25
    remode: str = "pixel"
    recount: int = 1
    mixup: float = 0.8
    cutmix: float = 1.0
    mixup_prob: float = 1.0
    mixup_switch_prob: float = 0.5
    mixup_mode: str = "batch"
    smoothing: float = 0.1
    eval_crop_pct: float | None = None  # eval: resize input_size / crop_pct (bicubic), centre crop; None: official
    # rule, 224/256 up to 224 px and 1.0 above
    eval_batch_size: int | None = None  # default: batch_size
    ema: bool = False
    ema_decay: float = 0.9999
    eval_every: int = 1  # evaluate on val/ every N epochs and after the last (the demo: after the last only)
    eval_only: bool = False  # evaluate the initialised model (e.g. --ckpt a fine-tuned checkpoint-best.pth)
    amp: str = "auto"  # engine/amp.py: auto (bf16 on GPU, fp32 on CPU) | fp32 | bf16 | fp16 (official fp16 + scaler)
    num_workers: int = 8
    pin_mem: bool = True
    max_iters_per_epoch: int | None = None
    synthetic_num: int = 512  # images of the built-in synthetic set (no --data-root)
    dataset: str | None = None  # record label; default: data.check.dataset_name (--dataset wins)
    save_every: int = 0
    tensorboard: bool = True
    seed: int = 0
    device: str | None = None

    # the allowed values of its own fields (mae_bench.config: SHARED_LIMITS hold the common ones, the type comes
    # from the annotation)
    LIMITS: ClassVar[dict] = dict(
        head_init_std=at_least(0),
        tune_blocks=at_least(0),
        layer_decay=fraction(lo_open=True),
        recount=at_least(1),
        mixup_prob=fraction(),
        mixup_switch_prob=fraction(),
        ema_decay=fraction(),
    )

    def __post_init__(self):
        self.model = size_label(self.model, "model")
        checks = {"head_type": (self.head_type, ("linear", "bn_linear")),
                  "optimizer": (self.optimizer, ("adamw", "lars")),
                  "augment": (self.augment, ("randaug", "rrc", "tf_rrc")),
                  "amp": (self.amp, AMP_MODES)}
        for key, (value, known) in checks.items():
            if value not in known:
                raise ConfigError(f"{key}={value!r} is not one of {', '.join(known)}")

    def accum(self, world_size: int) -> int:
        """Gradient accumulation steps: ``engine.trainer.accumulation`` (exact or a ConfigError), as pretraining."""
        return accumulation(self.effective_batch, self.batch_size, world_size, self.accum_iter,
                            override="--cfg-options effective_batch=N")

    def absolute_lr(self, world_size: int) -> float:
        if self.lr is not None:
            return self.lr
        return self.blr * self.batch_size * self.accum(world_size) * world_size / 256


# ---------------------------------------------------------------- configuration


def recipe_config(task: str, model: str | None) -> Path:
    """``configs/<task>/<vit_b>.py`` for ``--model vit-b`` (``_base_.py`` for a size without a recipe);
    ``configs/<task>/quick.py`` without ``--model``."""
    if model is None:
        return config_file(f"{task}/quick.py")
    recipe = MODEL_SIZES[size_label(model, "--model")].recipe
    path = config_file(f"{task}/{recipe}.py")
    return path if recipe and path.is_file() else config_file(f"{task}/_base_.py")


# ---------------------------------------------------------------- data


def train_transform(cfg: ClassificationConfig):
    """randaug: timm's fine-tuning pipeline (RandAug, random erasing, bicubic); rrc: RandomResizedCrop + flip;
    tf_rrc: the official linear probe's transform (``linprobe_transform``)."""
    if cfg.augment == "tf_rrc":
        return linprobe_transform(cfg.input_size, cfg.crop_scale)
    if cfg.augment == "rrc":
        return transforms.Compose([
            transforms.RandomResizedCrop(cfg.input_size, scale=tuple(cfg.crop_scale),
                                         interpolation=InterpolationMode.BICUBIC),
            transforms.RandomHorizontalFlip(), transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    from timm.data import create_transform
    return create_transform(cfg.input_size, is_training=True, scale=tuple(cfg.crop_scale), color_jitter=None,
                            auto_augment=cfg.aa,
                            interpolation="bicubic", re_prob=cfg.reprob, re_mode=cfg.remode, re_count=cfg.recount,
                            mean=IMAGENET_MEAN, std=IMAGENET_STD)


class ShardSampler(Sampler):
    """Indices rank, rank + world, ...: every sample exactly once over all processes (no padding)."""

    def __init__(self, n: int, rank: int = 0, world_size: int = 1):
        self.indices = list(range(rank, n, world_size))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def build_loaders(cfg: ClassificationConfig, root: Path, dist: DistInfo) -> tuple[DataLoader, DataLoader, list[str]]:
    train = build_imagefolder(root, "train", train_transform(cfg))
    val = build_imagefolder(root, "val", eval_transform(cfg.input_size, cfg.eval_crop_pct))
    check_same_classes(train, val)
    if len(train) < cfg.batch_size * dist.world_size and not cfg.eval_only:
        raise DataError(f"{root}/train has {len(train)} images, fewer than one batch "
                        f"({cfg.batch_size} x {dist.world_size} processes); lower --batch_size")
    kw = dict(num_workers=cfg.num_workers, pin_memory=cfg.pin_mem and dist.device.type == "cuda",
              persistent_workers=cfg.num_workers > 0)
    sampler = DistributedSampler(train, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=cfg.seed)
    train_loader = DataLoader(train, batch_size=cfg.batch_size, sampler=sampler, drop_last=True, **kw)
    val_loader = DataLoader(val, batch_size=cfg.eval_batch_size or cfg.batch_size,
                            sampler=ShardSampler(len(val), dist.rank, dist.world_size), **kw)
    return train_loader, val_loader, train.classes


# ---------------------------------------------------------------- model and optimiser


def build_model(cfg: ClassificationConfig, num_classes: int) -> ViTClassifier:
    return create_classifier(cfg.model, num_classes, head_init_std=cfg.head_init_std,
                             img_size=cfg.input_size, patch_size=cfg.patch_size, drop_path_rate=cfg.drop_path,
                             global_pool=cfg.global_pool, head_type=cfg.head_type, tune_blocks=cfg.tune_blocks,
                             train_norm=cfg.train_norm)


def is_classifier(obj: dict) -> bool:
    """A mae-bench fine-tuning / linear-probe checkpoint (restored whole), not a pretraining one."""
    config = obj.get("config") if isinstance(obj.get("config"), dict) else {}
    is_ours = isinstance(obj.get("meta"), dict) and obj["meta"].get("producer") == "mae-bench"
    return is_ours and config.get("task") in ("finetune", "linprobe")


def load_init(model: ViTClassifier, ckpt: CheckpointFile | None) -> str:
    """Encoder weights from a pretraining checkpoint of any known format (only head/fc_norm may be
    missing; pos_embed resampled to this resolution), or a whole mae-bench classifier. -> summary."""
    if ckpt is None:
        return "random init"
    if is_classifier(ckpt.obj):
        restore_state(ckpt.obj, ckpt.path, model)
        return f"{ckpt.path} (mae-bench classifier, all keys)"
    drop_norm = (lambda k: None if k.startswith("norm.") else k) if model.global_pool else None
    report = load_encoder_state(model, ckpt, allowed_missing=lambda k: k.startswith(("head.", "fc_norm.")),
                                key_map=drop_norm)
    return report.summary()


def build_optimizer(cfg: ClassificationConfig, model: ViTClassifier, lr: float) -> torch.optim.Optimizer:
    if cfg.optimizer == "lars":
        return lars(model.parameters(), lr, cfg.weight_decay)
    groups = param_groups(model, cfg.weight_decay, cfg.layer_decay, model.depth if cfg.layer_decay else None)
    return adamw(groups, lr=lr)


def make_step(cfg: ClassificationConfig, num_classes: int, device: torch.device):
    """Trainer step: mixup/cutmix + soft-target CE (label smoothing), or plain (smoothed) CE."""
    mixup = None
    if cfg.mixup > 0 or cfg.cutmix > 0:
        from timm.data import Mixup
        mixup = Mixup(mixup_alpha=cfg.mixup, cutmix_alpha=cfg.cutmix, prob=cfg.mixup_prob,
                      switch_prob=cfg.mixup_switch_prob, mode=cfg.mixup_mode, label_smoothing=cfg.smoothing,
                      num_classes=num_classes)
    from timm.loss import SoftTargetCrossEntropy
    soft_ce = SoftTargetCrossEntropy()

    def step(model, batch):
        imgs, targets = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
        if mixup is not None:
            imgs, soft = mixup(imgs, targets)
            return soft_ce(model(imgs), soft), imgs.shape[0]
        return F.cross_entropy(model(imgs), targets, label_smoothing=cfg.smoothing), imgs.shape[0]

    return step


# ---------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader: DataLoader, device: torch.device, amp: str = "fp32",
             desc: str = "eval") -> dict:
    """Top-1 / top-5 accuracy (%) and mean cross-entropy over the loader's samples on all processes.

    Each process evaluates its own shard (``ShardSampler``: no padding); correct counts, loss sums
    and sample counts are summed with all_reduce, so any number of processes gives the numbers of
    one. ``model(images [N, 3, H, W]) -> logits [N, C]``.
    """
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64)  # correct@1, correct@5, loss sum, count
    ctx = autocast(amp, device)
    show = not (torch.distributed.is_initialized() and torch.distributed.get_rank() > 0)
    for imgs, targets in progress_bar(loader, desc=desc, disable=not show, leave=False, dynamic_ncols=True):
        imgs, targets = imgs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        with ctx:
            logits = model(imgs)
        logits = logits.float()
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        hit = top.eq(targets[:, None])
        sums += torch.tensor([hit[:, 0].sum().item(), hit.any(dim=1).sum().item(),
                              F.cross_entropy(logits, targets, reduction="sum").item(), len(targets)],
                             dtype=torch.float64)
    if torch.distributed.is_initialized():
        torch.distributed.all_reduce(sums)
    n = max(sums[3].item(), 1.0)
    return dict(top1=100.0 * sums[0].item() / n, top5=100.0 * sums[1].item() / n, loss=sums[2].item() / n,
                num_images=int(sums[3].item()))


class EvalHook(Hook):
    """After every epoch: top-1/top-5 on val/ (and of the EMA model) into the epoch stats; tracks the best
    epoch and saves ``checkpoint-best.pth`` (rank 0). Goes before LogHook and CheckpointHook."""

    def __init__(self, loader: DataLoader, amp: str, work_dir: Path, config: dict, ema=None, every: int = 1):
        self.loader, self.amp, self.work_dir, self.config, self.ema = loader, amp, work_dir, config, ema
        self.every = max(1, every)

    def after_epoch(self, trainer, stats: dict) -> None:
        done = stats["epoch"] + 1
        if done % self.every and done != trainer.epochs:
            return  # not an evaluation epoch (eval_every)
        device = trainer.dist.device  # the unwrapped model: shards may have unequal batch counts (no DDP collectives)
        res = evaluate(unwrap(trainer.model), self.loader, device, self.amp, desc=f"eval epoch {stats['epoch'] + 1}")
        stats.update(top1=res["top1"], top5=res["top5"], val_loss=res["loss"])
        if self.ema is not None:
            ema = evaluate(self.ema.module, self.loader, device, self.amp, desc="eval ema")
            stats.update(top1_ema=ema["top1"], top5_ema=ema["top5"])
            trainer.state["last_eval_ema"] = ema
        best = trainer.state.get("best")
        if best is None or res["top1"] > best["top1"]:
            trainer.state["best"] = dict(epoch=stats["epoch"] + 1, top1=res["top1"], top5=res["top5"])
            if trainer.dist.is_main:
                save_checkpoint(self.work_dir / "checkpoint-best.pth", trainer.model, None, stats["epoch"] + 1,
                                self.config, best=trainer.state["best"])
        trainer.state["last_eval"] = res
        if trainer.dist.is_main:
            log.info("epoch %d: top-1 %.2f top-5 %.2f (best %.2f at epoch %d)", stats["epoch"] + 1, res["top1"],
                     res["top5"], trainer.state["best"]["top1"], trainer.state["best"]["epoch"])


# ---------------------------------------------------------------- run


# run config fields an explicit --resume may change: where files go, how fast, how often saved, how the batch is
# split, and the number of epochs (extending a run)
NON_RESULT_FIELDS = ("num_workers", "pin_mem", "save_every", "tensorboard", "device", "world_size", "batch_size",
                     "accum_iter", "eval_batch_size", "config_file", "epochs")


def restore(work_dir: Path, model: ViTClassifier, optimizer, ema, scaler, config: dict) -> tuple[int, dict]:
    """--resume: model, optimiser, EMA, fp16 scaler and best-so-far from ``work_dir/checkpoint-last.pth`` if it
    exists; refused, naming the fields, when its run config differs from ``config`` in a field that changes the
    result."""
    ckpt = resume_path("auto", work_dir)
    if ckpt is None:
        return 0, {}
    saved = load_training_state(ckpt, model, optimizer, scaler)
    check_same_config(ckpt, saved.get("config") or {}, config, NON_RESULT_FIELDS)
    if ema is not None and saved.get("model_ema"):
        ema.module.load_state_dict(saved["model_ema"])
    log.info("resumed from %s at epoch %d", ckpt, saved["epoch"])
    return int(saved["epoch"]), dict(best=saved.get("best"))


def make_hooks(cfg: ClassificationConfig, val_loader: DataLoader, amp: str, work_dir: Path, config: dict,
               ema) -> list[Hook]:
    """Evaluation first (it adds top1/top5 to the epoch stats), then checkpoints (with best and EMA), log, EMA."""
    extra = dict(best=lambda t: t.state.get("best"))
    if ema is not None:
        extra["model_ema"] = lambda t: ema.module.state_dict()
    return [EvalHook(val_loader, amp, work_dir, config, ema, cfg.eval_every),
            CheckpointHook(work_dir, config, cfg.save_every, **extra), LogHook(work_dir, cfg.tensorboard)] + \
        ([EmaHook(ema)] if ema else [])


def prepare(run: Run, cfg: ClassificationConfig, dist: DistInfo):
    """Data (checked by the skeleton's data step) and the model initialised from --ckpt -> (train loader, val loader,
    classes, model on device, load summary)."""
    root = Path(run.data.root)
    train_loader, val_loader, classes = build_loaders(cfg, root, dist)
    torch.manual_seed(cfg.seed)  # same initial head on every process
    model = build_model(cfg, len(classes))
    summary = load_init(model, run.checkpoint.file)
    return train_loader, val_loader, classes, model.to(dist.device), summary


class ClassificationTask(Task):
    """Fine-tuning or linear probing on an ImageFolder set: a ``ClassificationConfig`` (dataclass defaults < config
    file < explicit flags; ``--cfg-options`` after), the official MAE recipe of ``--model``'s size by default."""

    metrics = ("top1", "top5")

    def default_config(self, args: TransferArgs) -> Path:
        return recipe_config(self.name, args.model)

    def load_config(self, path: Path, args: TransferArgs) -> ClassificationConfig:
        flags = dict(model=args.model, epochs=args.epochs, batch_size=args.batch_size, tune_blocks=args.tune_blocks,
                     global_pool=args.global_pool, device=args.device)
        cli = {**{k: v for k, v in flags.items() if v is not None}, "seed": args.seed}
        return build(ClassificationConfig, load_config_file(path), cli, source=str(path))

    def set_options(self, cfg: ClassificationConfig, options: dict) -> ClassificationConfig:
        """``--cfg-options`` into the config; then the batch rule for this launch's process count (``WORLD_SIZE``,
        1 without torchrun or srun), so an inexact effective batch is refused before any data is written."""
        cfg = dataclass_options(cfg, options)
        cfg.accum(launch_world_size())
        return cfg

    def dataset(self, run: Run) -> tuple[str, Path]:
        """``--data-root``, or the built-in synthetic ImageFolder set under the work dir (written once)."""
        if run.args.data_root:
            return "imagefolder", Path(run.args.data_root)
        cfg = run.cfg
        return "imagefolder", write_synthetic_once("imagefolder", run.work_dir / "synthetic_imagefolder",
                                                   cfg.synthetic_num, max(cfg.input_size, 64), cfg.seed)

    def run(self, run: Run) -> Outcome | None:
        """Fine-tune or linearly probe the init; the outcome on rank 0 (None on other ranks)."""
        dist = init_distributed(run.device)
        try:
            return _run(run, dist)
        finally:
            cleanup()


class FinetuneTask(ClassificationTask):
    """``--task finetune``: end-to-end fine-tuning (MAE appendix A.1; ``tune_blocks``: partial fine-tuning)."""
    name = "finetune"


class LinprobeTask(ClassificationTask):
    """``--task linprobe``: the official MAE linear probe (LARS, BatchNorm before the head)."""
    name = "linprobe"


def _run(run: Run, dist: DistInfo) -> Outcome | None:
    args, cfg, work_dir = run.args, run.cfg, run.work_dir
    accum = cfg.accum(dist.world_size)  # exact: set_options refused an inexact one
    amp, lr = resolve_amp(cfg.amp, dist.device), cfg.absolute_lr(dist.world_size)
    train_loader, val_loader, classes, model, summary = prepare(run, cfg, dist)
    config = dataclasses.asdict(cfg) | dict(task=args.task, config_file=str(run.config_path),
                                            world_size=dist.world_size,
                                            effective_batch=cfg.batch_size * accum * dist.world_size, abs_lr=lr,
                                            accum_iter=accum, amp=amp, classes=classes, ckpt=run.checkpoint.path,
                                            init_labels=run.checkpoint.labels())
    if dist.is_main:
        work_dir.mkdir(parents=True, exist_ok=True)
        log.info("%s %s: init %s", args.task, cfg.model, summary)
    optimizer = build_optimizer(cfg, model, lr)
    ema = None
    if cfg.ema:
        from timm.utils import ModelEmaV3
        ema = ModelEmaV3(model, decay=cfg.ema_decay)
    scaler = grad_scaler(amp, dist.device)
    start_epoch, state = restore(work_dir, model, optimizer, ema, scaler, config) if args.resume else (0, {})
    if dist.distributed:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dist.local_rank] if dist.device.type == "cuda" else None)
    hooks = make_hooks(cfg, val_loader, amp, work_dir, config, ema)
    trainer = Trainer(model, optimizer, train_loader, make_step(cfg, len(classes), dist.device),
                      Schedule(lr, cfg.min_lr, cfg.warmup_epochs, cfg.epochs), dist=dist, epochs=cfg.epochs,
                      start_epoch=start_epoch, accum_iter=accum, amp=amp, clip_grad=cfg.clip_grad, seed=cfg.seed,
                      hooks=hooks, max_iters=cfg.max_iters_per_epoch, desc=args.task, state=state, scaler=scaler)
    if dist.is_main:
        log.info("%s: %s on %d classes, %d process(es) x batch %d x accum_iter %d = effective batch %d%s, lr %.3g, "
                 "%s, %d iterations/epoch", args.task, cfg.model, len(classes), dist.world_size, cfg.batch_size, accum,
                 config["effective_batch"], " (set by --cfg-options)" if batch_override(run.options) else "", lr, amp,
                 trainer.iters_per_epoch())
    if cfg.eval_only:
        last = evaluate(unwrap(model), val_loader, dist.device, amp)
        best = dict(epoch=None, top1=last["top1"], top5=last["top5"])
    else:
        trainer.fit()
        last = trainer.state.get("last_eval") or evaluate(unwrap(model), val_loader, dist.device, amp)
        best = trainer.state.get("best") or dict(epoch=start_epoch, top1=last["top1"], top5=last["top5"])
    if not dist.is_main:
        return None
    if trainer.state.get("last_eval_ema"):
        last = last | {f"{k}_ema": v for k, v in trainer.state["last_eval_ema"].items() if k in ("top1", "top5")}
    return outcome(run, dist, best, last, config)


def batch_override(options: dict) -> bool:
    """Whether ``--cfg-options`` set the effective batch (or the accumulation) instead of the config file."""
    return bool({"effective_batch", "accum_iter"} & set(options))


def outcome(run: Run, dist: DistInfo, best: dict, last: dict, config: dict) -> Outcome:
    """Metrics: top1/top5 of the best epoch (as the official code reports), the last epoch's too."""
    metrics = dict(top1=best["top1"], top5=best["top5"], top1_last=last["top1"], top5_last=last["top5"],
                   val_loss_last=last["loss"])
    metrics.update({k: v for k, v in last.items() if k.endswith("_ema")})  # EMA model, last epoch
    cfg = run.cfg
    return Outcome(metrics, cfg.model, dataset_name(run.data, run.args.dataset or cfg.dataset), dist.world_size,
                   seed=cfg.seed,
                   extra=dict(best_epoch=best["epoch"], num_val_images=last["num_images"], epochs=cfg.epochs,
                              tune_blocks=cfg.tune_blocks, global_pool=cfg.global_pool, eval_only=cfg.eval_only,
                              amp=config["amp"], effective_batch=config["effective_batch"],
                              accum_iter=config["accum_iter"], batch_override=batch_override(run.options)))
