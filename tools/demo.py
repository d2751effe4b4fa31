#!/usr/bin/env python
"""The whole mae-bench story on the built-in synthetic scenes (what `make demo` runs).

  python tools/demo.py --out results/demo            # 16 min on 2 free CPU cores (961 s measured)
  python tools/demo.py --out /tmp/quick --quick     # same steps at toy size, about a minute on 2 cores
  python tools/demo.py --out /tmp/fresh && python tools/demo.py --check /tmp/fresh   # against the committed records
  python tools/demo.py --claims results/demo/README.md   # regenerate its block from the committed records
Writes results/demo/{runs,tables}/ (tables, charts, report.md / report.html), the MAE reconstructions and loss
curves, and prints a summary no wider than 100 columns and where the report is. --check prints the cells of a
fresh run that fall outside the committed seed spread and exits 1 if there are any.
"""
import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from mae_bench.cli import accept_both_spellings, reports_errors
from mae_bench.demo import CHECK_FLOOR, COMMITTED, FULL, QUICK, check, check_report, claims_block, plan, replace_block
from mae_bench.forkrun import ForkedRun
from mae_bench.progress import progress_bar
from mae_bench.results import RecordError, load_record_dirs
from mae_bench.tables import build_cells

REPO = Path(__file__).resolve().parents[1]


def start(argv: list[str], log: Path, env: dict, fork: bool):
    """One job, its stdout and stderr into ``log``: a python tool in a process forked from an interpreter that has
    imported torch & co. once (``mae_bench.forkrun``), or with ``fork=False`` a fresh interpreter."""
    log.write_bytes(b"")
    if fork and argv[0] == sys.executable and argv[1].endswith(".py"):
        return ForkedRun(argv[1], argv[2:], env, REPO, log)
    with open(log, "w") as f:
        return subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=REPO)


def run_jobs(jobs, logs: Path, parallel: int, fork: bool = True) -> None:
    """Run the job graph, ``parallel`` at a time, with a weighted progress bar; stop at the first failure."""
    logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO), MPLBACKEND="Agg",
               PYTHONUNBUFFERED="1")
    pending, running, done = list(jobs), {}, set()
    bar = progress_bar(total=sum(j.weight for j in jobs), desc="demo", unit="job", dynamic_ncols=True,
                       bar_format="{l_bar}{bar}| {percentage:3.0f}% [{elapsed}<{remaining}] {postfix}")
    while pending or running:
        for job in [j for j in pending if set(j.deps) <= done][: parallel - len(running)]:
            log = logs / f"{job.name.replace(':', '_')}.log"
            running[job.name] = (job, start(job.argv, log, env, fork), log, time.time())
            pending.remove(job)
        bar.set_postfix_str(", ".join(running), refresh=False)
        time.sleep(0.5)
        for name, (job, proc, log, t0) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[name]
            if proc.returncode != 0:
                for _, p, _, _ in running.values():
                    p.kill()
                tail = log.read_text()[-4000:]
                raise SystemExit(f"demo step {name} failed ({proc.returncode}); log {log}:\n{tail}")
            done.add(name)
            bar.update(job.weight)
            bar.write(f"done {name:22s} {time.time() - t0:6.1f} s")
    bar.close()


def collect_pictures(out: Path) -> None:
    work = out / "work" / "pretrain"
    for method in ("mae", "supervised", "mocov3"):
        if (work / method / "loss_curve.png").is_file():
            shutil.copy(work / method / "loss_curve.png", out / f"pretrain_{method}_loss.png")
    recons = sorted((work / "mae" / "vis").glob("recon_epoch*.png"))
    if recons:
        shutil.copy(recons[-1], out / "mae_reconstructions.png")
    if (work / "mae" / "checkpoint-last.pth").is_file():
        shutil.copy(work / "mae" / "log.jsonl", out / "pretrain_mae_log.jsonl")


@reports_errors(RecordError, OSError)
def check_main(a) -> int:
    runs = Path(a.check) / "runs" if (Path(a.check) / "runs").is_dir() else Path(a.check)
    if runs.resolve() in {Path(c).resolve() for c in a.committed}:
        print(f"error: --check {a.check}: these are the committed records; run the fresh demo elsewhere "
              "(tools/demo.py --out /tmp/fresh), then --check /tmp/fresh", file=sys.stderr)
        return 2
    fresh, _ = load_record_dirs([runs])
    committed, _ = load_record_dirs(a.committed)
    if not fresh:
        print(f"error: --check {a.check}: no result records in {runs}", file=sys.stderr)
        return 2
    cells = check(fresh, committed, a.floor)
    print(f"{len(fresh)} fresh record(s) from {runs} against {len(committed)} committed\n")
    print(check_report(cells, a.floor), end="")
    if not cells["status"].isin(["within", "outside"]).any():
        print(f"error: --check {a.check}: no cell of the fresh run matches a committed one", file=sys.stderr)
        return 2
    return int((cells["status"] == "outside").any())


@reports_errors(RecordError, ValueError, OSError)
def claims_main(a) -> int:
    path = Path(a.claims)
    records, _ = load_record_dirs(a.committed)
    sources = tuple(os.path.relpath(c, REPO) for c in a.committed)
    text = replace_block(path.read_text(), claims_block(build_cells(records), sources), path)
    path.write_text(text)
    print(f"wrote the generated block of {path} from {len(records)} committed record(s)")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="results/demo", help="folder of the records, tables, pictures and the work "
                   "(default: %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="the same steps at toy size (about a minute on 2 cores): a smoke run")
    p.add_argument("--jobs", type=int, default=max(1, min(2, os.cpu_count() or 1)),
                   help="tool runs at a time, one thread each (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the pretrainings (default 0)")
    p.add_argument("--no-fork", dest="fork", action="store_false", help="start every job in a fresh interpreter "
                   "(default: each job is its own process, forked from one interpreter that has imported torch, "
                   "timm and mmengine once, which saves 3-5 s a job)")
    p.add_argument("--no-cheap", dest="cheap", action="store_false", help="skip k-NN, the head grid and the frozen "
                   "dense probe")
    p.add_argument("--dense-seeds", type=int, default=None, metavar="N",
                   help="seeds 0..N-1 of each COCO / ADE20K transfer (default 1; each more seed adds ~7 min on "
                   "2 cores)")
    p.add_argument("--check", metavar="DIR", help="compare the records of a fresh run (DIR/runs or DIR) with the "
                   "committed ones instead of running; exit 1 if a cell falls outside the committed seed spread")
    p.add_argument("--claims", metavar="README", help="rewrite the generated block of README from the committed "
                   "records instead of running")
    p.add_argument("--committed", nargs="+", default=[str(REPO / c) for c in COMMITTED], metavar="DIR",
                   help="folders of the committed records (default: %(default)s)")
    p.add_argument("--floor", type=float, default=CHECK_FLOOR, help="--check: smallest allowed distance, in metric "
                   "points (default %(default)s)")
    a = accept_both_spellings(p).parse_args(argv)
    if a.dense_seeds is not None and a.dense_seeds < 1:
        p.error(f"--dense-seeds must be >= 1, got {a.dense_seeds}")
    if a.check or a.claims:
        return check_main(a) if a.check else claims_main(a)
    size = QUICK if a.quick else FULL
    if a.dense_seeds:
        size = dataclasses.replace(size, dense_seeds=tuple(range(a.dense_seeds)))
    out = Path(a.out).resolve()
    for stale in ("runs", "tables", "work"):
        shutil.rmtree(out / stale, ignore_errors=True)
    t0 = time.time()
    run_jobs(plan(out, REPO, size, a.seed, a.cheap), out / "work" / "logs", a.jobs, a.fork)
    collect_pictures(out)
    summary = out / "tables" / "summary.md"
    print(summary.read_text() if summary.is_file() else f"(no {summary})")
    print(f"demo finished in {time.time() - t0:.0f} s; records in {out / 'runs'}, tables in {out / 'tables'}")
    print(f"report: {out / 'tables' / 'report.html'} (also report.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
