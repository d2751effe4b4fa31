#!/usr/bin/env bash
# Pretrain on a Slurm allocation: one task per GPU, started by srun.
#   sbatch --nodes=4 --ntasks-per-node=8 --gpus-per-node=8 --cpus-per-task=10 tools/slurm_pretrain.sh \
#       --config configs/pretrain/mae_vit_large_800e.py --data_path /datasets/imagenet --output_dir work_dirs/vit_l
# Faults and time limits: the job is requeueable (--requeue: Slurm puts it back in the queue when a node
# fails) and resumes from the newest checkpoint of --output_dir (--resume auto unless --resume is given).
# Slurm sends SIGUSR1 to this script 10 min before the time limit (--signal=B:...); it forwards the signal
# to the tasks through srun; each task finishes its epoch, the checkpoint is saved, the tasks exit with 75
# and this script requeues the job (scontrol requeue), which resumes from that checkpoint.
# A ViT-B/L epoch on ImageNet takes 1-3 min on 8 H100s; raise the @600 lead time for fewer GPUs.
#SBATCH --job-name=mae-bench-pretrain
#SBATCH --output=work_dirs/slurm-%j.out
#SBATCH --open-mode=append
#SBATCH --requeue
#SBATCH --signal=B:USR1@600
set -uo pipefail
HERE=${MAE_BENCH_TOOLS:-$(cd "$(dirname "$0")" && pwd)}  # sbatch copies the script: set MAE_BENCH_TOOLS if needed
PY=${PYTHON:-$HERE/../.venv/bin/python}
[ -x "$PY" ] || PY=python
export MASTER_ADDR=${MASTER_ADDR:-$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)}
export MASTER_PORT=${MASTER_PORT:-29500}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
RESUME=(--resume auto)
for a in "$@"; do case "$a" in --resume|--resume=*) RESUME=() ;; esac; done
echo "[slurm] job ${SLURM_JOB_ID:-?} restart ${SLURM_RESTART_COUNT:-0} on ${SLURM_JOB_NODELIST:-?}"
# mae_bench.engine.dist reads SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID in each task.
PREEMPT=0
SRUN_PID=
trap 'PREEMPT=1; [ -n "$SRUN_PID" ] && kill -USR1 "$SRUN_PID" 2>/dev/null' USR1
srun --kill-on-bad-exit=1 "$PY" "$HERE/pretrain.py" "${RESUME[@]}" "$@" &
SRUN_PID=$!
while true; do  # wait returns >128 when the trap interrupts it: keep waiting for srun itself
  wait "$SRUN_PID"; rc=$?
  kill -0 "$SRUN_PID" 2>/dev/null || break
done
if [ "$PREEMPT" = 1 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
  echo "[slurm] time limit near: tasks stopped after a checkpoint (exit $rc); requeueing job $SLURM_JOB_ID"
  scontrol requeue "$SLURM_JOB_ID"
  exit 0
fi
exit "$rc"
