#!/usr/bin/env python
"""Transfer a pretrained encoder to a task and write a result record to results/runs/.

  tools/transfer.py --task coco --ckpt work_dirs/mae_vit_b/checkpoint-last.pth --gpus 8 --data-root /datasets/coco
  tools/transfer.py --task ade20k --ckpt PATH --config configs/ade20k/quick.py        # synthetic set, CPU
  tools/transfer.py --task finetune --ckpt PATH --model vit-b --gpus 8 --data-root /datasets/imagenet
  tools/transfer.py --task linprobe --ckpt random --model vit-b --data-root /datasets/imagenet
  tools/transfer.py --task knn --ckpt zoo:mae-vit-b --model vit-b --config configs/knn/vit_b.py --data-root DIR
  tools/transfer.py --zoo --data-root DIR        # k-NN, linear grid, attentive of every cached zoo entry
--ckpt takes a file or a published checkpoint by name (zoo:NAME, timm:MODEL.TAG, hf-hub:ORG/NAME[@REV], https://...),
read from the local cache only: tools/fetch_ckpt.py NAME fills it where there is internet (docs/checkpoints.md).
--gpus N > 1 starts N processes with torchrun (launcher pytorch); --launcher slurm inside an allocation.
Every task runs the same steps: config, data root and checkpoint, --cfg-options last, dataset check, one read
of the checkpoint, the run, the record (mae_bench/transfer/skeleton.py).
Flags are spelt with hyphens, as mmdet's and mmseg's tools/train.py (--work-dir, --cfg-options); every flag also
takes underscores, as MAE's main_finetune.py spells them (--batch_size, --global_pool, --data_root).
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys

from mae_bench.cli import accept_both_spellings, reports_errors
from mae_bench.errors import MaeBenchError
from mae_bench.hub import CACHE_ENV, cached_zoo, caches, is_name, resolve
from mae_bench.resources import config_file
from mae_bench.results import PRETRAIN_METHODS
from mae_bench.transfer import TASKS, TransferArgs, run_task

ZOO_TASKS = ("knn", "linprobe_grid", "attentive")  # the cheap signals --zoo runs by default
RECIPE_CONFIG = config_file("{task}/vit_b.py")  # --zoo's default config (checkout or installed package)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", help=f"the transfer task, one of: {', '.join(TASKS)}; with --zoo a comma list "
                                  f"of them, default {','.join(ZOO_TASKS)} (required)")
    p.add_argument("--ckpt", metavar="PATH|NAME|random",
                   help="checkpoint to transfer: a file of any format mae_bench.checkpoints reads (mae-bench, "
                        "official MAE, MoCo v3, DINO, BEiT, DeiT/timm, HF, mmpretrain), a published checkpoint by "
                        "name (zoo:NAME, timm:MODEL.TAG, hf-hub:ORG/NAME[@REV], https://...; from the local cache), "
                        "or 'random' for random initialisation; not with --zoo (required)")
    p.add_argument("--cache", metavar="DIR",
                   help=f"checkpoint cache of the names, shared by torch.hub and Hugging Face files (default: "
                        f"${CACHE_ENV}, else TORCH_HOME and HF_HOME); filled by tools/fetch_ckpt.py")
    p.add_argument("--zoo", action="store_true",
                   help="run --task (default: the cheap signals) on every zoo entry in the cache, each at its own "
                        "model size (--model overrides) with --config (may contain {task}; default "
                        "configs/{task}/vit_b.py); one record per entry and task (default: off)")
    p.add_argument("--config", metavar="FILE", help="config file (default: the task's quick config, "
                                                    "configs/<task>/quick.py)")
    p.add_argument("--data-root", dest="data_root", metavar="DIR",
                   help="dataset root, checked before any model is built (default: a synthetic set written under "
                        "the work dir)")
    p.add_argument("--classes", metavar="FILE",
                   help="class names of an ADE20K-layout set that is not ADE20K: one name a line for labels 1..N, "
                        "or a JSON list (default: the dataset's own)")
    p.add_argument("--dataset", metavar="NAME", help="dataset name in the record (default: from the data root)")
    p.add_argument("--work-dir", dest="work_dir", metavar="DIR",
                   help="logs and checkpoints of this run (default: work_dirs/<task>/<config>_<init>)")
    p.add_argument("--gpus", type=int, default=1, metavar="N",
                   help="processes on this node, one per GPU; torchrun starts them when > 1 (default: 1)")
    p.add_argument("--launcher", choices=["none", "pytorch", "slurm"], default="none",
                   help="how the processes were started: none (one process), pytorch (torchrun), slurm (srun) "
                        "(default: none)")
    p.add_argument("--cfg-options", dest="cfg_options", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="config overrides, applied last, after the data root and the checkpoint (default: none)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from the last checkpoint in --work-dir (default: off)")
    p.add_argument("--runs-dir", dest="runs_dir", default="results/runs", metavar="DIR",
                   help="where the record is written (default: results/runs)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the run (default: 0)")
    p.add_argument("--device", metavar="cpu|cuda[:N]",
                   help="device of every task; cuda without CUDA is an error (default: cuda when available, else "
                        "cpu)")
    p.add_argument("--model", metavar="SIZE",
                   help="finetune / linprobe / frozen probes: vit-t, vit-s, vit-b, vit-l or vit-h, picking that "
                        "size's recipe config (default: the config's model)")
    p.add_argument("--tune-blocks", dest="tune_blocks", type=int, metavar="K",
                   help="partial fine-tuning: train only the last K blocks + head (default: all blocks)")
    pool = p.add_mutually_exclusive_group()
    pool.add_argument("--global-pool", dest="global_pool", action="store_true", default=None,
                      help="finetune / linprobe: classify the mean patch token (default: the config's choice)")
    pool.add_argument("--cls-token", dest="global_pool", action="store_false",
                      help="finetune / linprobe: classify the cls token (default: the config's choice)")
    p.add_argument("--epochs", type=int, metavar="N", help="training epochs (default: the config's)")
    p.add_argument("--batch-size", dest="batch_size", type=int, metavar="N",
                   help="images per process per step (default: the config's)")
    p.add_argument("--ms-flip", dest="ms_flip", action="store_true",
                   help="ade20k: multi-scale + flip test-time augmentation (default: single scale)")
    p.add_argument("--init", metavar="NAME",
                   help="init label in the record (default: from the checkpoint path, e.g. run@checkpoint-200)")
    p.add_argument("--pretrain-method", dest="pretrain_method", choices=PRETRAIN_METHODS,
                   help="how the checkpoint was pretrained (default: what the file tells; required for plain "
                        "timm, HF and mmpretrain files, which do not)")
    return accept_both_spellings(p)


def relaunch_with_torchrun(argv: list[str], gpus: int) -> int:
    """Re-run this script under torchrun with ``gpus`` processes and the pytorch launcher."""
    rest, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--gpus":
            skip = True
            continue
        if not a.startswith("--gpus="):
            rest.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={gpus}",
           f"--master_port={os.environ.get('MASTER_PORT', 29500 + os.getpid() % 1000)}", __file__, *rest,
           "--launcher", "pytorch"]
    return subprocess.call(cmd)


def run_zoo(a: argparse.Namespace) -> int:
    """``--zoo``: every task of ``--task`` on every cached zoo entry, one run (and record) each, in one process."""
    tasks = a.task.split(",") if a.task else list(ZOO_TASKS)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or a.ckpt or a.gpus > 1:
        print(f"error: --zoo: {'unknown --task ' + ','.join(unknown) if unknown else 'no --ckpt / --gpus'} "
              f"(it runs every cached zoo entry in this process)", file=sys.stderr)
        return 2
    found = cached_zoo(a.cache)
    if not found:
        print(f"error: --zoo: no zoo entry is in the cache {caches(a.cache).describe()}; fill it with "
              f"tools/fetch_ckpt.py zoo:NAME ... (tools/fetch_ckpt.py --list)", file=sys.stderr)
        return 2
    base = {k: v for k, v in vars(a).items() if k != "zoo"}
    jobs = [(task, entry) for entry, _ in found for task in tasks]
    failed = []
    for i, (task, entry) in enumerate(jobs, 1):
        config = (a.config or str(RECIPE_CONFIG)).format(task=task)
        print(f"[{i}/{len(jobs)}] {task} zoo:{entry.name} ({entry.model}, {config})", flush=True)
        args = TransferArgs(**{**base, "task": task, "ckpt": f"zoo:{entry.name}", "model": a.model or entry.model,
                               "config": config})
        try:
            print(f"record: {run_task(args)}")
        except MaeBenchError as e:
            print(f"error: {task} zoo:{entry.name}: {e}", file=sys.stderr)
            failed.append(f"{task} zoo:{entry.name}")
    if failed:
        print(f"{len(failed)} of {len(jobs)} runs failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


@reports_errors(MaeBenchError, interrupt=True)
def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    a = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if a.cache:  # one folder for torch.hub and Hugging Face files, in this process and in torchrun's workers
        os.environ[CACHE_ENV] = a.cache
    if a.zoo:
        return run_zoo(a)
    if not a.task or a.ckpt is None:
        parser().error(f"the following arguments are required: {'--task' if not a.task else '--ckpt'} (or --zoo)")
    if a.gpus > 1 and a.launcher == "none":
        if is_name(a.ckpt):  # resolved (offline) before any worker starts: an uncached name stops here
            resolve(a.ckpt, a.cache)
        return relaunch_with_torchrun(argv, a.gpus)
    fields = {k: v for k, v in vars(a).items() if k != "zoo"}
    path = run_task(TransferArgs(**fields))
    if path is not None:
        print(f"record: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
