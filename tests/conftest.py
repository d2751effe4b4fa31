"""Shared fixtures: run the real tools as subprocesses; a tiny real MAE pretraining checkpoint."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY_MAE = ["--model", "mae_vit_tiny_patch16", "--input_size", "64", "--decoder_embed_dim", "64",
            "--decoder_depth", "1", "--decoder_num_heads", "4"]


def free_port() -> int:
    """A TCP port nobody listens on now: tests run in parallel (pytest-xdist), so no two torchrun share one."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tool_env(**extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"),
               PYTHONUNBUFFERED="1", MPLBACKEND="Agg", MASTER_PORT=str(free_port()))
    env.update(extra)
    return env


def run_tool(script: str, *args, check: bool = False, timeout: int = 900, cwd=None, **env) -> subprocess.CompletedProcess:
    """Run ``tools/<script>`` (python or shell) with the project's interpreter; returns the completed process."""
    path = REPO / "tools" / script
    cmd = ["bash", str(path)] if script.endswith(".sh") else [sys.executable, str(path)]
    proc = subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=tool_env(PYTHON=sys.executable, **env), cwd=cwd or REPO)
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def synthetic_imagefolder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic") / "imagefolder"
    run_tool("make_synthetic.py", "--format", "imagefolder", "--out", out, "--num", 60, "--size", 64, check=True)
    return out


@pytest.fixture(scope="session")
def tiny_mae_ckpt(tmp_path_factory, synthetic_imagefolder) -> Path:
    """A real mae-bench pretraining checkpoint of the tiny MAE (64 px, 1 epoch, a few iterations)."""
    out = tmp_path_factory.mktemp("tiny_mae")
    run_tool("pretrain.py", *TINY_MAE, "--device", "cpu", "--epochs", 1, "--warmup_epochs", 1, "--batch_size", 8,
             "--data_path", synthetic_imagefolder, "--output_dir", out, "--num_workers", 0,
             "--max_iters_per_epoch", 2, "--vis_every", 0, "--no-tensorboard", check=True)
    return out / "checkpoint-last.pth"
