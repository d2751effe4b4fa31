"""The demo plan: the whole mae-bench story as a graph of subprocess jobs on the synthetic scenes.

data (3 formats and the pretraining pool, one seed) -> pretrain the micro ViT (configs/demo/) by MAE, supervised
and MoCo v3 on the pool with one budget (random init needs none) -> transfer each init to COCO, ADE20K,
fine-tuning and linear probing (configs/demo/*.py, several seeds each) and to the cheap signals -> tables and
report. Every job is a real tool invocation (tools/*.py) with one thread, so results do not depend on how many
jobs run at once, and fixed seeds make two demo runs on one machine give the same records.

Also here: the check of a fresh run against the committed records (``check``) and the generated block of
results/demo/README.md (``claims_block``): what the committed records show, by the significance rule of the tables.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .tables import claims_markdown, group_runs, records_frame, terminal_summary

if TYPE_CHECKING:
    import pandas as pd

METHODS = ("mocov3", "mae", "supervised")  # the slowest pretraining first: it is the demo's critical path
INITS = ("random", "mae", "supervised", "mocov3")  # transfers in the order their inits become ready
TASKS = ("coco", "ade20k", "finetune", "linprobe")
CHEAP_TASKS = ("knn", "linprobe_grid", "ade20k_linear")
DATA_OF = {"coco": "coco", "ade20k": "ade20k", "ade20k_linear": "ade20k"}  # the rest: imagefolder


@dataclass(frozen=True)
class Size:
    label_num: int  # labelled ImageFolder scenes (train + val), 32 px
    pool: int  # pretraining pool scenes, 32 px
    coco: int  # COCO-layout scenes, 64 px
    ade20k: int  # ADE20K-layout scenes, 64 px
    pretrain_epochs: int
    seeds: tuple[int, ...]  # transfer seeds of finetune and linprobe
    dense_seeds: tuple[int, ...]  # transfer seeds of coco and ade20k
    transfer_options: dict = field(default_factory=dict)  # task -> extra tools/transfer.py args
    val: dict = field(default_factory=dict)  # format -> scenes of its val split (make_synthetic --val; default ~20%)


_SHORT_CLS = ["--epochs", "2", "--cfg-options", "max_iters_per_epoch=3"]
# QUICK: the same graph at toy size (tests/test_demo.py): schedules cut to a few iterations
QUICK = Size(label_num=48, pool=128, coco=12, ade20k=12, pretrain_epochs=1, seeds=(0,), dense_seeds=(0,),
             transfer_options={"coco": ["--cfg-options", "train_cfg.max_iters=4"],
                               "ade20k": ["--cfg-options", "train_cfg.max_iters=4"],
                               "ade20k_linear": ["--cfg-options", "train_cfg.max_iters=4"],
                               "finetune": _SHORT_CLS, "linprobe": _SHORT_CLS, "linprobe_grid": ["--epochs", "1"]})
# FULL: the labelled set keeps its 384 train scenes (64 per class) and gets 2400 val scenes (400 per class: one image
# is 0.04 points of top-1, the binomial standard error of a 30-70% top-1 ~0.9 points); COCO and ADE20K keep their
# 48 train scenes and get 60 val scenes each (12 before)
FULL = Size(label_num=384 + 2400, pool=2400, coco=48 + 60, ade20k=48 + 60, pretrain_epochs=20, seeds=(0, 1, 2),
            dense_seeds=(0,), val={"imagefolder": 2400, "coco": 60, "ade20k": 60})


@dataclass
class Job:
    name: str
    argv: list[str]
    deps: tuple[str, ...] = ()
    weight: float = 1.0  # rough relative cost, for the ETA


def data_jobs(tool, data: Path, size: Size, seed: int) -> list[Job]:
    specs = (("imagefolder", size.label_num, 32, ["--pool", str(size.pool)]), ("coco", size.coco, 64, []),
             ("ade20k", size.ade20k, 64, []))
    return [Job(f"data:{fmt}", [*tool("make_synthetic.py"), "--format", fmt, "--out", str(data / fmt), "--num",
                                str(n), "--size", str(px), "--seed", str(seed), *extra,
                                *(["--val", str(size.val[fmt])] if fmt in size.val else [])], weight=0.3)
            for fmt, n, px, extra in specs]


def pretrain_jobs(tool, repo: Path, work: Path, size: Size, seed: int) -> list[Job]:
    data = work / "data" / "imagefolder" / "pool"
    return [Job(f"pretrain:{m}", [*tool("pretrain.py"), "--config", str(repo / "configs/demo" / f"{m}.py"),
                                  "--data_path", str(data), "--output_dir", str(work / "pretrain" / m),
                                  "--epochs", str(size.pretrain_epochs), "--seed", str(seed)],
                deps=("data:imagefolder",), weight={"mae": 4.0, "supervised": 6.0, "mocov3": 12.0}[m])
            for m in METHODS]


def transfer_job(tool, repo: Path, out: Path, size: Size, init: str, task: str, seed: int) -> Job:
    work = out / "work"
    ckpt = "random" if init == "random" else str(work / "pretrain" / init / "checkpoint-last.pth")
    fmt = DATA_OF.get(task, "imagefolder")
    config = repo / "configs" / "demo" / f"{task}.py"
    cache = ["--cfg-options", f"cache_dir={work / 'feature_cache'}"] if task in ("knn", "linprobe_grid") else []
    return Job(f"{task}:{init}:s{seed}", [
        *tool("transfer.py"), "--task", task, "--ckpt", ckpt, "--device", "cpu", "--config", str(config),
        "--data-root", str(work / "data" / fmt), "--work-dir", str(work / "transfer" / f"{task}_{init}_s{seed}"),
        "--runs-dir", str(out / "runs"), "--seed", str(seed), "--init", f"{init}-demo", "--pretrain-method", init,
        *size.transfer_options.get(task, []), *cache],
        deps=(f"data:{fmt}",) + (() if init == "random" else (f"pretrain:{init}",)),
        weight={"coco": 4.0, "ade20k": 3.0}.get(task, 1.0))


def plan(out: Path, repo: Path, size: Size, seed: int = 0, cheap: bool = True) -> list[Job]:
    """Every job of the demo, in an order that starts the long ones early."""
    work = out / "work"
    py = [sys.executable]
    tool = lambda name: [*py, str(repo / "tools" / name)]  # noqa: E731
    jobs = data_jobs(tool, work / "data", size, seed) + pretrain_jobs(tool, repo, work, size, seed)
    for init in INITS:
        for task in TASKS:
            for s in size.dense_seeds if task in ("coco", "ade20k") else size.seeds:
                jobs.append(transfer_job(tool, repo, out, size, init, task, s))
        for task in CHEAP_TASKS if cheap else ():
            jobs.append(transfer_job(tool, repo, out, size, init, task, seed))
    jobs.append(Job("tables", [*tool("make_tables.py"), "--runs", str(out / "runs"), "--out", str(out / "tables")],
                    deps=tuple(j.name for j in jobs if not j.name.startswith(("data:", "pretrain:"))), weight=0.3))
    return jobs


# ---------------------------------------------------------------- the committed results: check and claims

COMMITTED = ("results/demo/runs",)  # one demo, made with --dense-seeds 3 (seeds 0-2 of every COCO / ADE20K transfer)
# metric points (AP, mIoU, top-1 are all in %): two binomial standard errors of top-1 on the 2400 val images (~0.9
# each at 30-70%), and the gap last-bit float differences between CPU types open at this scale (README)
CHECK_FLOOR = 2.0
CHECK_RULE = ("A cell (task metric, init, model) of the fresh run is within the committed one when |fresh mean - "
              "committed mean| <= max(2 x the committed std over seeds, {floor:g} points); a committed cell of one "
              "seed has no std: the floor alone.")
CELL_KEYS = ["table", "dataset", "model", "pretrain_method", "init", "column"]


def check(fresh: list[dict], committed: list[dict], floor: float = CHECK_FLOOR) -> pd.DataFrame:
    """Every cell of either record set (means over seeds): committed mean, std, n; fresh mean, n; the allowed
    distance (``CHECK_RULE``) and ``status``: 'within', 'outside', 'not run' (committed only) or 'new' (fresh only)."""
    ref, new = group_runs(records_frame(committed)), group_runs(records_frame(fresh))
    out = ref.merge(new[[*CELL_KEYS, "mean", "n"]], on=CELL_KEYS, how="outer", suffixes=("", "_fresh"))
    out["allowed"] = (2 * out["std"].fillna(0.0)).clip(lower=floor)
    gap = (out["mean_fresh"] - out["mean"]).abs()
    out["status"] = "within"
    out.loc[gap > out["allowed"], "status"] = "outside"
    out.loc[out["mean_fresh"].isna(), "status"] = "not run"
    out.loc[out["mean"].isna(), "status"] = "new"
    return out.sort_values(CELL_KEYS, kind="stable").reset_index(drop=True)


def check_report(cells: pd.DataFrame, floor: float = CHECK_FLOOR) -> str:
    """The cells outside (and those not run or new) as a Markdown table, a count, and the rule."""
    shown = cells[cells["status"] != "within"]
    lines = [CHECK_RULE.format(floor=floor), ""]
    if not shown.empty:
        lines += ["| task | init | committed | fresh | allowed | status |", "| :-- | :-- | --: | --: | --: | :-- |"]
        for r in shown.itertuples():
            committed = "-" if r.mean != r.mean else f"{r.mean:.2f}" + (f" ± {r.std:.2f}" if r.n > 1 else "") + \
                f" (n={int(r.n)})"
            fresh = "-" if r.mean_fresh != r.mean_fresh else f"{r.mean_fresh:.2f} (n={int(r.n_fresh)})"
            lines.append(f"| {r.column} on {r.dataset} | {r.init} | {committed} | {fresh} | {r.allowed:.2f} | "
                         f"{r.status} |")
        lines.append("")
    compared = cells[cells["status"].isin(["within", "outside"])]
    lines.append(f"{(compared['status'] == 'within').sum()} of {len(compared)} compared cells within the committed "
                 f"spread; {(compared['status'] == 'outside').sum()} outside.")
    return "\n".join(lines) + "\n"


CLAIMS_BEGIN, CLAIMS_END = "<!-- generated by tools/demo.py --claims: begin -->", "<!-- generated: end -->"


def claims_block(cells: pd.DataFrame, sources: tuple[str, ...] = COMMITTED) -> str:
    """What the committed records show: the summary (means over seeds) and, per protocol, which inits differ from
    random init and from supervised pretraining beyond the seed noise (``mae_bench.tables.claims_markdown``)."""
    folders = " and ".join(f"`{s}`" for s in sources)
    return "\n".join([CLAIMS_BEGIN, f"Generated by `python tools/demo.py --claims results/demo/README.md` from the "
                      f"records in {folders}: do not edit by hand.", "", "```", terminal_summary(cells).rstrip(),
                      "```", "", claims_markdown(cells, level="###").rstrip(), CLAIMS_END])


def replace_block(text: str, block: str, path, begin: str = CLAIMS_BEGIN, end_marker: str = CLAIMS_END) -> str:
    """``text`` with its generated block (between ``begin`` and ``end_marker``, by default CLAIMS_BEGIN and
    CLAIMS_END) replaced by ``block`` (which carries the markers)."""
    start, end = text.find(begin), text.find(end_marker)
    if start < 0 or end < start:
        raise ValueError(f"{path} has no generated block ({begin} ... {end_marker})")
    return text[:start] + block + text[end + len(end_marker):]
