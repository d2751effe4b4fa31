#!/usr/bin/env bash
# The GPU throughput check of the pretraining step (run on a lent H200/H100; CI never runs it):
#   bash tools/gpu_perf.sh OUT_DIR
# ViT-B and ViT-L MAE, bf16, eager and torch.compile, each against the timm-Block reference in the same run.
set -u
OUT=${1:-results/perf}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
"$PY" -c 'import torch, timm; print("torch", torch.__version__, "timm", timm.__version__)' | tee -a "$OUT/gpu.txt"
B="tools/benchmark.py --device cuda --dtype bf16 --peak 790 --rounds 5 --iters 5 --warmup 3 --out $OUT/benchmark_gpu.jsonl"
$PY $B --model mae_vit_base_patch16 --batch_size 256
$PY $B --model mae_vit_large_patch16 --batch_size 128
$PY $B --model mae_vit_base_patch16 --batch_size 256 --compile
$PY $B --model mae_vit_large_patch16 --batch_size 128 --compile
