#!/usr/bin/env python
"""Cost of the linear-head grid against one head: a training step (frozen forward + heads + SGD) of each, interleaved.

  OMP_NUM_THREADS=2 tools/bench_probes.py --model vit-b --input_size 224 --batch_size 32 --device cpu \
      --out results/perf/linprobe_grid_cpu.json
  tools/bench_probes.py --model vit-b --batch_size 128 --device cuda --dtype bf16   # dinov2's per-GPU batch
The grid is the full configs/linprobe_grid/vit_b.py one (13 learning rates x 5 inputs = 65 heads); one head is
the cls token of the last block at one learning rate. Prints and writes median seconds per step and the ratio.
"""
import argparse
import json
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from mae_bench.cli import accept_both_spellings
from mae_bench.engine.amp import autocast
from mae_bench.evaluation.features import last_blocks, summarize
from mae_bench.evaluation.heads import LinearGrid, grid_inputs, grid_loss
from mae_bench.transfer.frozen import DINOV2_LRS, FrozenConfig, build_encoder


def make_step(vit, probe, optimizer, cfg, imgs, labels, device):
    def step():
        with torch.no_grad(), autocast(cfg.amp, device):
            feats = summarize(last_blocks(vit, imgs, 4))
        loss = grid_loss(probe(feats), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    return step


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="vit-b")
    p.add_argument("--input_size", type=int, default=224)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--num_classes", type=int, default=1000)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", help="write the result as JSON here")
    a = accept_both_spellings(p).parse_args(argv)
    device = torch.device(a.device)
    cfg = FrozenConfig(model=a.model, input_size=a.input_size, amp=a.dtype, device=a.device)
    vit, _ = build_encoder(cfg, None, device)
    imgs = torch.randn(a.batch_size, 3, a.input_size, a.input_size, device=device)
    labels = torch.randint(0, a.num_classes, (a.batch_size,), device=device)
    sample = {k: v[:2].cpu() for k, v in summarize(last_blocks(vit, imgs[:2], 4)).items()}
    probes = {"one_head": LinearGrid(sample, ["cls1"], [1e-3], a.num_classes),
              "grid": LinearGrid(sample, grid_inputs([1, 4], ["cls", "avg", "cls_avg"]), list(DINOV2_LRS),
                                 a.num_classes)}
    steps = {k: make_step(vit, pr.to(device), pr.optimizer(a.batch_size), cfg, imgs, labels, device)
             for k, pr in probes.items()}
    times = {k: [] for k in steps}
    for r in range(a.warmup + a.rounds):
        for name, step in steps.items():  # interleaved: both see the same machine load
            t0 = time.perf_counter()
            step()
            if r >= a.warmup:
                times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = dict(command=" ".join(["tools/bench_probes.py", *(argv or sys.argv[1:])]), model=a.model,
                  input_size=a.input_size, batch_size=a.batch_size, device=a.device, dtype=a.dtype,
                  num_heads=len(probes["grid"].heads), s_per_step_one_head=med["one_head"], s_per_step_grid=med["grid"],
                  ratio=med["grid"] / med["one_head"], rounds=a.rounds, torch=torch.__version__,
                  cpu=platform.processor() or platform.machine(), date=datetime.now(timezone.utc).isoformat())
    print(json.dumps(result, indent=1))
    if a.out:
        Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
