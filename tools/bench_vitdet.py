#!/usr/bin/env python
"""ViTDet backbone speed: forward+backward images/s with window attention vs global attention in every block.

  OMP_NUM_THREADS=2 tools/bench_vitdet.py --device cpu --size 1024 --warmup 2 --iters 3 \
      --out results/perf/vitdet_window_vs_global_cpu.json

Both variants are the same ViT-B trunk (``backbones.vitdet.MAEViTDet``, relative positions on) and differ
only in ``window`` (14 with the recipe's global blocks vs 0 = global everywhere). Iterations alternate
between the variants, so load from other processes hits both alike; the robust figure is
``window_speedup``, the median over rounds of (global time / window time) within the same round.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from backbones.vitdet import MAEViTDet
from mae_bench.meta import git_sha, versions


def step_seconds(model: torch.nn.Module, x: torch.Tensor) -> float:
    """One forward + backward of ``model`` on ``x``; wall seconds (synchronised on CUDA)."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    sync()
    t = time.perf_counter()
    model(x)[0].float().mean().backward()
    sync()
    return time.perf_counter() - t


def measure(size: int, batch: int, warmup: int, iters: int, device: str, dtype: str) -> dict:
    """Interleaved timing of the window and global variants -> per-variant images/s and the ratio."""
    torch.manual_seed(0)
    models = {name: MAEViTDet(img_size=size, window=w, drop_path_rate=0.0).to(device).train()
              for name, w in (("window", 14), ("global", 0))}
    x = torch.randn(batch, 3, size, size, device=device)
    times = {name: [] for name in models}
    amp = torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=dtype == "bf16")
    for i in range(warmup + iters):
        for name, m in models.items():
            m.zero_grad(set_to_none=True)
            with amp:
                t = step_seconds(m, x)
            if i >= warmup:
                times[name].append(t)
            print(f"iter {i} {name}: {t:.2f}s", file=sys.stderr, flush=True)
    out = {name: dict(median_s=statistics.median(ts), images_per_s=batch / statistics.median(ts), times_s=ts)
           for name, ts in times.items()}
    out["paired_ratios"] = [g / w for g, w in zip(times["global"], times["window"])]  # global / window, same round
    out["window_speedup"] = statistics.median(out["paired_ratios"])
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--out", help="write the result JSON here")
    a = p.parse_args(argv)
    res = measure(a.size, a.batch, a.warmup, a.iters, a.device, a.dtype)
    dev = torch.cuda.get_device_name() if a.device.startswith("cuda") else platform.processor() or platform.machine()
    rec = dict(benchmark="vitdet_backbone_fwd_bwd", model="vit-b", window_size=14, global_blocks=[2, 5, 8, 11],
               image_size=a.size, batch=a.batch, dtype=a.dtype, warmup=a.warmup, iters=a.iters, device=a.device,
               device_name=dev, threads=torch.get_num_threads(), omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
               command="tools/bench_vitdet.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               git_sha=git_sha(), versions=versions(), **res)
    if a.out:  # one JSON line, like the other files of results/perf/
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(rec) + "\n")
    print(json.dumps(rec, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
