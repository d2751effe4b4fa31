#!/usr/bin/env bash
# Pretrain with torchrun: tools/pretrain.sh NGPUS [tools/pretrain.py args...]
#   tools/pretrain.sh 8 --config configs/pretrain/mae_vit_base_800e.py --data_path /datasets/imagenet
#   tools/pretrain.sh 2 --device cpu --model mae_vit_tiny_patch16 --input_size 64   # gloo on CPU
# Multi-node: NNODES=4 NODE_RANK=<0..3> MASTER_ADDR=<node 0 host> MASTER_PORT=29500 tools/pretrain.sh 8 ...
set -euo pipefail
if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: tools/pretrain.sh NGPUS [pretrain.py args]  (NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT for multi-node)" >&2
  exit 2
fi
NPROC=$1; shift
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-$HERE/../.venv/bin/python}
[ -x "$PY" ] || PY=python
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( $(nproc) / NPROC > 0 ? $(nproc) / NPROC : 1 ))}
exec "$PY" -m torch.distributed.run \
  --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --nproc_per_node="$NPROC" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${MASTER_PORT:-$((29500 + RANDOM % 1000))}" \
  "$HERE/pretrain.py" "$@"
