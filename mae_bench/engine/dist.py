"""Distributed setup for torchrun (env://) and Slurm (srun) processes; single process otherwise."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as tdist

from ..errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launch_world_size() -> int:
    """The process count of this launch, read before any process group exists: torchrun's ``WORLD_SIZE``,
    srun's ``SLURM_NTASKS``, else 1."""
    ranks = _env_ranks()
    return ranks[1] if ranks else 1


def launch_rank() -> int:
    """This process's global rank in the launch, read before any process group exists (0 when not launched)."""
    ranks = _env_ranks()
    return ranks[0] if ranks else 0


def _env_ranks() -> tuple[int, int, int] | None:
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # torchrun
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
    if "SLURM_PROCID" in os.environ and int(os.environ.get("SLURM_NTASKS", "1")) > 1:  # srun
        os.environ.setdefault("MASTER_PORT", "29500")
        if "MASTER_ADDR" not in os.environ:
            raise RuntimeError("under srun set MASTER_ADDR (tools/slurm_pretrain.sh does) to the first node")
        return int(os.environ["SLURM_PROCID"]), int(os.environ["SLURM_NTASKS"]), int(os.environ["SLURM_LOCALID"])
    return None


def init_distributed(device: str) -> DistInfo:
    """Join the process group if launched by torchrun / srun: nccl on CUDA, gloo on CPU."""
    ranks = _env_ranks()
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no GPU is visible; use --device cpu")
    if ranks is None:
        return DistInfo(device=torch.device(device))
    rank, world, local = ranks
    if device.startswith("cuda"):
        torch.cuda.set_device(local)
        dev, backend = torch.device("cuda", local), "nccl"
    else:
        dev, backend = torch.device("cpu"), "gloo"
    if not tdist.is_initialized():
        tdist.init_process_group(backend, rank=rank, world_size=world, **_store_args(world))
    return DistInfo(rank, world, local, dev)


def _store_args(world: int) -> dict:
    """env:// normally; after a torchrun restart, the agent's store under a per-round prefix: its keys still hold
    the dead round's gloo/nccl addresses, and restarted workers that read them hang or get 'Connection refused'."""
    restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    if not restart or os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return dict(init_method="env://")
    base = tdist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world, is_master=False)
    return dict(store=tdist.PrefixStore(f"mae_bench/restart_{restart}", base))


def barrier() -> None:
    if tdist.is_available() and tdist.is_initialized():
        tdist.barrier()


def all_reduce_mean(value: float | torch.Tensor) -> float:
    if not (tdist.is_available() and tdist.is_initialized()):
        return float(value)
    t = torch.as_tensor(float(value), dtype=torch.float64)
    tdist.all_reduce(t)
    return float(t) / tdist.get_world_size()


def cleanup() -> None:
    if tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()
