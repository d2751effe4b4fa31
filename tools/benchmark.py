#!/usr/bin/env python
"""Time MAE training steps (forward, backward, AdamW) against a timm-Block reference MAE, side by side.

  python tools/benchmark.py --model mae_vit_base_patch16 --batch_size 8 --device cpu --dtype fp32
  python tools/benchmark.py --model mae_vit_base_patch16 --batch_size 256 --device cuda --dtype bf16 --peak 790
Prints images/s, TFLOP/s (analytic: 58.7 GFLOP/img for ViT-B/16), peak memory, the ratio mae-bench /
reference, and MFU against --peak TFLOP/s; appends the JSON result to --out (results/perf/benchmark.jsonl).

  python tools/benchmark.py --table2 --model mae_vit_large_patch16 --batch_size 2 --device cpu
--table2: the MAE paper's Table 2 as a measured ratio: training wall-clock per image of the encoder with mask
tokens (decoder 8) against the MAE encoder with decoder depth 8 and 1, beside the paper's 2.8x / 3.7x (ViT-L) and
3.5x / 4.1x (ViT-H) (default --out results/perf/table2_mask_token.jsonl).
"""
import argparse
import json
import platform
import resource
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

from mae_bench.cli import accept_both_spellings
from mae_bench.errors import ConfigError
from mae_bench.models import MODEL_SIZES, model_size
from mae_bench.perf import compare, mask_token_speedup


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
    p.add_argument("--table2", action="store_true",
                   help="time the encoder with mask tokens against the MAE encoder, decoder 8 and 1 (Table 2)")
    p.add_argument("--out", default=None, help="JSON-lines file the result is appended to (default: "
                   "results/perf/benchmark.jsonl; with --table2 results/perf/table2_mask_token.jsonl)")
    a = accept_both_spellings(p).parse_args(argv)
    a.out = a.out or ("results/perf/table2_mask_token.jsonl" if a.table2 else "results/perf/benchmark.jsonl")
    try:
        model_size(a.model)
    except ConfigError as e:
        print(f"error: --model: {e}", file=sys.stderr)
        return 2
    if a.table2:
        return table2(a, argv)
    r = compare(a.model, a.batch_size, a.device, a.dtype, a.rounds, a.iters, a.warmup, a.input_size, a.compile,
                a.same_optimizer)
    provenance(r, a, argv)
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


def provenance(r: dict, a, argv) -> None:
    r["host"] = torch.cuda.get_device_name() if a.device.startswith("cuda") else platform.processor() or "cpu"
    r["threads"] = torch.get_num_threads()
    r["torch"] = torch.__version__
    r["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    r["command"] = "python tools/benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:])


def table2(a, argv) -> int:
    r = mask_token_speedup(a.model, a.batch_size, a.device, a.dtype, a.rounds, a.iters, a.warmup, a.input_size)
    provenance(r, a, argv)
    print(f"{a.model}, batch {a.batch_size}, {a.device} {a.dtype} ({r['host']}, {r['threads']} thread(s)); "
          f"speed-up = time of 'encoder w/ [M], dec 8' / time of the row")
    print(f"{'variant':24s} {'s/img':>8s} {'GFLOP/img':>10s} {'speed-up':>9s} {'FLOP ratio':>10s} {'paper':>7s}")
    for label, v in r["variants"].items():
        paper = f"{v['paper_speedup']:.1f}x" if v["paper_speedup"] else "-"
        print(f"{label:24s} {v['s_per_image']:8.3f} {v['gflop_per_image']:10.1f} {v['speedup']:8.2f}x "
              f"{v['flop_ratio']:9.2f}x {paper:>7s}")
    print("paper: 800-epoch wall-clock on 128 TPU-v3 cores (He et al. 2021, Table 2)")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as f:
        f.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
