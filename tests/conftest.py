"""Shared fixtures: run the real tools as subprocesses; a tiny real MAE pretraining checkpoint."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mae_bench import forkrun

REPO = Path(__file__).resolve().parents[1]
REALDATA_ENV = "MAE_BENCH_REALDATA"
REALDATA_SETS = ("imagefolder", "coco", "segmentation")
DESELECTED = pytest.StashKey[int]()
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


def run_tool(script: str, *args, check: bool = False, timeout: int = 900, cwd=None, fresh: bool = False,
             **env) -> subprocess.CompletedProcess:
    """Run ``tools/<script>`` (python or shell) with the project's interpreter; returns the completed process.

    A python tool runs in a process forked from an interpreter that has imported torch & co. once
    (``mae_bench.forkrun``: the same script as ``__main__``, its own process, argv, environment and exit status);
    ``fresh=True`` (or a shell script) starts a new interpreter instead."""
    path = REPO / "tools" / script
    env = tool_env(PYTHON=sys.executable, **env)
    if not fresh and script.endswith(".py"):
        return checked(forkrun.run(path, args, env, cwd or REPO, timeout), script, args, check)
    cmd = ["bash", str(path)] if script.endswith(".sh") else [sys.executable, str(path)]
    proc = subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=cwd or REPO)
    return checked(proc, script, args, check)


def checked(proc: subprocess.CompletedProcess, script: str, args, check: bool) -> subprocess.CompletedProcess:
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def pytest_collection_modifyitems(config, items) -> None:
    """Without $MAE_BENCH_REALDATA the ``realdata`` tests are deselected (counted, and said in the summary)."""
    if os.environ.get(REALDATA_ENV):
        return
    deselected = [item for item in items if item.get_closest_marker("realdata")]
    if deselected:
        items[:] = [item for item in items if not item.get_closest_marker("realdata")]
        config.hook.pytest_deselected(items=deselected)
    config.stash[DESELECTED] = len(deselected)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Under pytest-xdist the workers collect, so the controller knows no count: it says so without one."""
    n = config.stash.get(DESELECTED, 0)
    distributed = getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput")
    if n or (distributed and not os.environ.get(REALDATA_ENV)):
        count = f"{n} realdata test(s)" if n else "the realdata tests"
        terminalreporter.write_line(f"{count} deselected: {REALDATA_ENV} is not set (it names the folder "
                                    f"of the real photo sets, {', '.join(REALDATA_SETS)}; .ci/run sets it)",
                                    yellow=True, bold=True)


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The real photo sets' folder from $MAE_BENCH_REALDATA (a relative path from where pytest started: the tests
    link subsets of it from temporary folders); with the variable set, a missing set fails."""
    root = Path(os.environ[REALDATA_ENV]).resolve()
    missing = [name for name in REALDATA_SETS if not (root / name).is_dir()]
    if missing:
        pytest.fail(f"{REALDATA_ENV}={root}: missing {missing}")
    return root


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


def textured_photo(width: int, height: int, seed: int, cell: int = 16, noise: float = 12) -> np.ndarray:
    """A textured RGB image: smooth colour fields (one random colour per ``cell`` px, bicubically upsampled) plus
    Gaussian detail, so resampling and chroma-upsampling differences show."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (height // cell + 1, width // cell + 1, 3), dtype=np.uint8))
    smooth = np.asarray(coarse.resize((width, height), Image.BICUBIC), dtype=np.float32)
    return np.clip(smooth + rng.normal(0, noise, (height, width, 3)), 0, 255).astype(np.uint8)
