#!/usr/bin/env python
"""Time MAE training steps (forward, backward, AdamW) against a timm-Block reference MAE, side by side.

  python tools/benchmark.py --model mae_vit_base_patch16 --batch_size 8 --device cpu --dtype fp32
  python tools/benchmark.py --model mae_vit_base_patch16 --batch_size 256 --device cuda --dtype bf16 --peak 790
Prints images/s, TFLOP/s (analytic: 58.7 GFLOP/img for ViT-B/16), peak memory, the ratio mae-bench /
reference, and MFU against --peak TFLOP/s; appends the JSON result to --out (results/perf/benchmark.jsonl).
"""
import argparse
import json
import platform
import resource
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

from mae_bench.errors import ConfigError
from mae_bench.models import MODEL_SIZES, model_size
from mae_bench.perf import compare


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="mae_vit_base_patch16",
                   help=f"one of {', '.join(s.mae for s in MODEL_SIZES.values())}")
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32")
    p.add_argument("--input_size", type=int, default=None)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--compile", action="store_true", help="torch.compile both models")
    p.add_argument("--same_optimizer", action="store_true",
                   help="give the reference mae-bench's fused AdamW too (compare the models alone)")
    p.add_argument("--peak", type=float, default=None, help="peak TFLOP/s for MFU (H200 bf16: ~790 measured)")
    p.add_argument("--out", default="results/perf/benchmark.jsonl")
    a = p.parse_args(argv)
    try:
        model_size(a.model)
    except ConfigError as e:
        print(f"error: --model: {e}", file=sys.stderr)
        return 2
    r = compare(a.model, a.batch_size, a.device, a.dtype, a.rounds, a.iters, a.warmup, a.input_size, a.compile,
                a.same_optimizer)
    r["host"] = torch.cuda.get_device_name() if a.device.startswith("cuda") else platform.processor() or "cpu"
    r["threads"] = torch.get_num_threads()
    r["torch"] = torch.__version__
    r["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    r["command"] = "python tools/benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if not a.device.startswith("cuda"):
        r["process_max_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    for k in ("mae-bench", "timm-reference"):
        if a.peak:
            r[k]["mfu"] = r[k]["tflops"] / a.peak
        s = r[k]
        print(f"{k:15s} {s['images_per_s']:9.1f} img/s  {s['tflops']:7.2f} TFLOP/s"
              + (f"  MFU {s['mfu']:.1%}" if a.peak else "") + f"  (spread {s['spread']:.1%})")
    mem = r.get("peak_mem_gib", r.get("process_max_rss_gib"))
    print(f"{a.model} bs {a.batch_size} {a.device} {a.dtype}: {r['gflop_per_image']:.1f} GFLOP/img, "
          f"peak mem {mem:.2f} GiB, ratio mae-bench/reference = {r['ratio']:.3f}")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as f:
        f.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
