"""The demo plan: the whole mae-bench story as a graph of subprocess jobs on the synthetic scenes.

data (3 formats, one seed) -> pretrain (MAE, supervised, MoCo v3 at one budget; random init needs none)
-> transfer each init to COCO, ADE20K, fine-tuning and linear probing (quick configs) -> tables.
Every job is a real tool invocation (tools/*.py) with one thread, so results do not depend on how many
jobs run at once, and fixed seeds make two demo runs on one machine give the same table.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

METHODS = ("mae", "supervised", "mocov3")
INITS = (*METHODS, "random")
TASKS = ("coco", "ade20k", "finetune", "linprobe")


@dataclass(frozen=True)
class Size:
    imagefolder: int  # scenes (64 px)
    coco: int  # scenes (128 px)
    ade20k: int  # scenes (96 px)
    pretrain_epochs: int
    transfer_options: dict = field(default_factory=dict)  # task -> extra tools/transfer.py args


# The full demo trains each transfer for a few hundred steps, so its learning rates are raised above the
# recipes' (which are tuned for 100 epochs / 160k iterations): every init gets the same ones.
QUICK = Size(imagefolder=160, coco=24, ade20k=24, pretrain_epochs=2)
_CLS = ["--cfg-options", "max_iters_per_epoch=None", "warmup_epochs=1", "tensorboard=False"]
FULL = Size(imagefolder=1000, coco=100, ade20k=120, pretrain_epochs=16, transfer_options={
    "coco": ["--cfg-options", "optim_wrapper.optimizer.lr=1e-3", "max_iters=250", "train_cfg.max_iters=250",
             "train_cfg.val_interval=250", "train_cfg.val_begin=251", "param_scheduler.1.end=250",
             "param_scheduler.1.milestones=[200]", "default_hooks.checkpoint.interval=250"],
    "ade20k": ["--cfg-options", "optim_wrapper.optimizer.lr=1e-3", "train_cfg.max_iters=600",
               "train_cfg.val_interval=600", "train_cfg.val_begin=601", "param_scheduler.1.end=600",
               "default_hooks.checkpoint.interval=600"],
    "finetune": ["--epochs", "6", "--batch_size", "32", *_CLS, "blr=5e-3"],
    "linprobe": ["--epochs", "6", "--batch_size", "64", *_CLS, "blr=1.0"],
})


@dataclass
class Job:
    name: str
    argv: list[str]
    deps: tuple[str, ...] = ()
    weight: float = 1.0  # rough relative cost, for the ETA


def plan(out: Path, repo: Path, size: Size, seed: int = 0) -> list[Job]:
    work = out / "work"
    data = work / "data"
    py = [sys.executable]
    tool = lambda name: [*py, str(repo / "tools" / name)]  # noqa: E731
    jobs = [Job(f"data:{fmt}", [*tool("make_synthetic.py"), "--format", fmt, "--out", str(data / fmt), "--num",
                                str(n), "--size", str(px), "--seed", str(seed)], weight=0.3)
            for fmt, n, px in (("imagefolder", size.imagefolder, 64), ("coco", size.coco, 128),
                               ("ade20k", size.ade20k, 96))]
    for m in METHODS:
        jobs.append(Job(f"pretrain:{m}", [*tool("pretrain.py"), "--config", str(repo / "configs/demo" / f"{m}.py"),
                                          "--data_path", str(data / "imagefolder"), "--output_dir",
                                          str(work / "pretrain" / m), "--epochs", str(size.pretrain_epochs),
                                          "--seed", str(seed)], deps=("data:imagefolder",), weight=3.0))
    data_of = {"coco": "coco", "ade20k": "ade20k", "finetune": "imagefolder", "linprobe": "imagefolder"}
    for init in INITS:
        ckpt = "random" if init == "random" else str(work / "pretrain" / init / "checkpoint-last.pth")
        for task in TASKS:
            jobs.append(Job(f"{task}:{init}", [
                *tool("transfer.py"), "--task", task, "--ckpt", ckpt, "--device", "cpu",
                "--data-root", str(data / data_of[task]), "--work-dir", str(work / "transfer" / f"{task}_{init}"),
                "--runs-dir", str(out / "runs"), "--seed", str(seed), "--init", f"{init}-demo",
                "--pretrain-method", init, *size.transfer_options.get(task, [])],
                deps=(f"data:{data_of[task]}",) + (() if init == "random" else (f"pretrain:{init}",)),
                weight=2.0 if task in ("coco", "ade20k") else 1.0))
    jobs.append(Job("tables", [*tool("make_tables.py"), "--runs", str(out / "runs"), "--out", str(out / "tables")],
                    deps=tuple(j.name for j in jobs if ":" in j.name and j.name.split(":")[0] in TASKS), weight=0.3))
    return jobs
