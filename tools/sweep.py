#!/usr/bin/env python
"""Run an ablation sweep: every pretraining variant of a sweep config, then its transfers, as submitit jobs.

  python tools/sweep.py --config configs/sweeps/mae_table1.py --dry-run        # the job plan and its GPU-hours
  python tools/sweep.py --config configs/sweeps/mae_table1.py --out /checkpoint/me/mae_table1   # Slurm (auto)
  python tools/sweep.py --config configs/sweeps/demo.py --cluster local --out /tmp/ablations_demo
The same code path submits to Slurm (submitit's AutoExecutor, where sbatch exists) or runs the jobs as local
processes (--cluster local). Run it again to resume: finished jobs are skipped (a pretraining whose
checkpoint-last.pth holds all its epochs, a transfer whose record is in <out>/runs), an unfinished pretraining
resumes from its newest checkpoint. Records go to <out>/runs; then tools/make_tables.py --runs <out>/runs draws
the paper's Table 1 / Figure 5 / Figure 7 from them. docs/ablations.md.
"""
import argparse
import logging
import sys
from pathlib import Path

from mae_bench.cli import accept_both_spellings, reports_errors
from mae_bench.errors import MaeBenchError
from mae_bench.sweep import describe, load_sweep, plan, run_sweep


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, metavar="FILE", help="sweep config, configs/sweeps/*.py (required)")
    p.add_argument("--out", metavar="DIR", help="sweep folder: pretraining runs, transfer work dirs, records in runs/, "
                                                "submitit logs (default: work_dirs/sweeps/<name>)")
    p.add_argument("--cluster", choices=["auto", "slurm", "local", "debug"], default="auto",
                   help="submitit executor: auto (Slurm where sbatch exists, else local processes), slurm, local, "
                        "or debug (in this process) (default: auto)")
    p.add_argument("--dry-run", dest="dry_run", action="store_true",
                   help="print the job plan (status on disk, GPU-hour estimate) and submit nothing (default: off, run)")
    p.add_argument("--max-parallel", dest="max_parallel", type=int, metavar="N",
                   help="jobs running at once (default: the config's max_parallel; local: 2; Slurm: all)")
    return accept_both_spellings(p)


@reports_errors(MaeBenchError)
def main(argv=None) -> int:
    a = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    spec = load_sweep(a.config)
    sweep = plan(spec, a.out or Path("work_dirs") / "sweeps" / spec["name"])
    if a.dry_run:
        print(describe(sweep), end="")
        return 0
    counts = run_sweep(sweep, None if a.cluster == "auto" else a.cluster, a.max_parallel)
    print(f"sweep {sweep.name}: {counts['ran']} ran, {counts['skipped']} already finished, {counts['failed']} failed, "
          f"{counts['refused']} refused; records in {sweep.runs_dir}")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
