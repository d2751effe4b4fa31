#!/usr/bin/env bash
# Pretrain on a Slurm allocation: one task per GPU, started by srun.
#   sbatch --nodes=4 --ntasks-per-node=8 --gpus-per-node=8 --cpus-per-task=10 tools/slurm_pretrain.sh \
#       --config configs/pretrain/mae_vit_large_800e.py --data_path /datasets/imagenet
#SBATCH --job-name=mae-bench-pretrain
#SBATCH --output=work_dirs/slurm-%j.out
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-$HERE/../.venv/bin/python}
[ -x "$PY" ] || PY=python
export MASTER_ADDR=${MASTER_ADDR:-$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)}
export MASTER_PORT=${MASTER_PORT:-29500}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
# mae_bench.engine.dist reads SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID in each task.
exec srun --kill-on-bad-exit=1 "$PY" "$HERE/pretrain.py" "$@"
