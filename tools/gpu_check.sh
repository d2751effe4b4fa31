#!/usr/bin/env bash
# One GPU check of every command (docs/install.md), under 8 minutes on one H100/H200, no network needed:
#   bash tools/gpu_check.sh [OUT_DIR]     (default results/perf; scratch in $WORK, default /tmp/mae_bench_gpu_check)
# Needs the mm stack (offline node: bash tools/build_wheelhouse.sh here, then bash tools/install_offline.sh there).
# Each step runs in its own process with a time limit and is reported passed/failed with its figures in
# OUT_DIR/gpu_check.json and OUT_DIR/gpu_check.md (tools/gpu_check.py has the list). Exit 0 when all passed.
#   bash tools/gpu_check.sh /tmp/check --smoke --device cpu   # the same steps at toy sizes on a CPU
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-results/perf}; shift || true
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 MPLBACKEND=Agg
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv
exec "$PY" tools/gpu_check.py --out "$OUT" --work "${WORK:-/tmp/mae_bench_gpu_check}" "$@"
