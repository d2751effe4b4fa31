#!/usr/bin/env python
"""Transfer a pretrained encoder to a task and write a result record to results/runs/.

  tools/transfer.py --task coco --ckpt work_dirs/mae_vit_b/checkpoint-last.pth --gpus 8 --data-root /datasets/coco
  tools/transfer.py --task ade20k --ckpt PATH --config configs/ade20k/quick.py        # synthetic set, CPU
  tools/transfer.py --task finetune --ckpt PATH --model vit-b --gpus 8 --data-root /datasets/imagenet
  tools/transfer.py --task linprobe --ckpt PATH --model vit-b --data-root /datasets/imagenet
--gpus N > 1 starts N processes with torchrun (launcher pytorch); --launcher slurm inside an allocation.
"""
import argparse
import logging
import os
import subprocess
import sys

from mae_bench.transfer import TASK_MODULES, TransferArgs, TransferError, run_task


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, help=f"one of: {', '.join(TASK_MODULES)}")
    p.add_argument("--ckpt", help="checkpoint to transfer (any format mae_bench.checkpoints knows); "
                                  "'random' or omitted: random initialisation")
    p.add_argument("--config", help="config file; default: the task's quick config")
    p.add_argument("--data-root", dest="data_root", help="dataset root; default: the synthetic set")
    p.add_argument("--work-dir", dest="work_dir", help="logs and checkpoints of this run")
    p.add_argument("--gpus", type=int, default=1, help="processes on this node (torchrun when > 1)")
    p.add_argument("--launcher", choices=["none", "pytorch", "slurm"], default="none")
    p.add_argument("--cfg-options", dest="cfg_options", nargs="+", action="extend", default=[], metavar="KEY=VALUE")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --work-dir")
    p.add_argument("--runs-dir", dest="runs_dir", default="results/runs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--model", help="finetune/linprobe: vit-t, vit-s, vit-b, vit-l, vit-h (recipe per size)")
    p.add_argument("--tune_blocks", type=int, help="partial fine-tuning: train only the last k blocks + head")
    pool = p.add_mutually_exclusive_group()
    pool.add_argument("--global_pool", dest="global_pool", action="store_true", default=None)
    pool.add_argument("--cls_token", dest="global_pool", action="store_false")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch_size", type=int)
    p.add_argument("--ms-flip", dest="ms_flip", action="store_true", help="ade20k: multi-scale + flip test")
    p.add_argument("--classes", help="ADE20K layout that is not ADE20K: class names of labels 1..N (one a line, "
                                     "or a JSON list of names or of objects with 'name'); label 0 is ignored")
    p.add_argument("--dataset", help="dataset name in the record (default: the folder's name; imagenet, coco2017, "
                                     "ade20k only for the official split sizes)")
    p.add_argument("--init", help="label of the initialisation in the record (default: from the checkpoint)")
    p.add_argument("--pretrain-method", dest="pretrain_method",
                   help="mae, supervised, mocov3, dino, beit, random (default: from the checkpoint)")
    return p


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


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    a = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if a.gpus > 1 and a.launcher == "none":
        return relaunch_with_torchrun(argv, a.gpus)
    try:
        path = run_task(TransferArgs(**vars(a)))
    except (TransferError, FileNotFoundError, KeyError, ValueError) as e:
        print(f"error: {e.args[0] if isinstance(e, KeyError) and e.args else e}", file=sys.stderr)
        return 2
    if path is not None:
        print(f"record: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
