#!/usr/bin/env bash
# Pretrain with torchrun: tools/pretrain.sh NGPUS [tools/pretrain.py args...]
#   tools/pretrain.sh 8 --config configs/pretrain/mae_vit_base_800e.py --data_path /datasets/imagenet
#   tools/pretrain.sh 2 --device cpu --model mae_vit_tiny_patch16 --input_size 64   # gloo on CPU
# Multi-node: NNODES=4 NODE_RANK=<0..3> MASTER_ADDR=<node 0 host> MASTER_PORT=29500 tools/pretrain.sh 8 ...
# Faults: the run resumes from the newest checkpoint of --output_dir by default (--resume auto, or pass
# --resume PATH; to start over, give a new --output_dir), and torchrun restarts the whole worker group up to
# MAX_RESTARTS times (default 3) when a worker dies; the restarted workers resume the same way, so a
# crash costs at most the work since the last epoch checkpoint.
set -euo pipefail
if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: tools/pretrain.sh NGPUS [pretrain.py args]  (NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT," \
       "MAX_RESTARTS for torchrun)" >&2
  exit 2
fi
NPROC=$1; shift
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-$HERE/../.venv/bin/python}
[ -x "$PY" ] || PY=python
RESUME=(--resume auto)
for a in "$@"; do case "$a" in --resume|--resume=*) RESUME=() ;; esac; done
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( $(nproc) / NPROC > 0 ? $(nproc) / NPROC : 1 ))}
exec "$PY" -m torch.distributed.run \
  --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --nproc_per_node="$NPROC" \
  --max-restarts="${MAX_RESTARTS:-3}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${MASTER_PORT:-$((29500 + RANDOM % 1000))}" \
  "$HERE/pretrain.py" "${RESUME[@]}" "$@"
