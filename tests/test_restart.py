"""Cluster faults (docs/faults.md): torchrun restarts a SIGKILLed worker and the run resumes by itself; SIGUSR1 (Slurm's
warning before the time limit) stops after a saved epoch; both end with the weights of an uninterrupted run."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import REPO, TINY_MAE, run_tool, tool_env
from mae_bench.checkpoints import load_file

EPOCHS = 5
ARGS = [*TINY_MAE, "--device", "cpu", "--batch_size", 4, "--num_workers", 0, "--no-tensorboard", "--vis_every", 0,
        "--epochs", EPOCHS, "--warmup_epochs", 1, "--max_iters_per_epoch", 6, "--seed", 5, "--save_every", 0]


def _epoch(path: Path) -> int:
    try:
        return int(load_file(path)["epoch"])
    except Exception:  # not written yet, or mid-rename
        return -1


def _wait_for_epoch(path: Path, proc: subprocess.Popen, epoch: int = 1, timeout: float = 300) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout and proc.poll() is None:
        if _epoch(path) >= epoch:
            return
        time.sleep(0.05)
    code = proc.poll()
    if code is None:
        os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f"no checkpoint of epoch {epoch} (returncode {code})")


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _same_weights(a: Path, b: Path) -> None:
    wa, wb = load_file(a), load_file(b)
    assert wa["epoch"] == wb["epoch"] == EPOCHS
    for k in wa["model"]:
        assert torch.equal(wa["model"][k], wb["model"][k]), k


def _launch(script: str, *args, **env) -> subprocess.Popen:
    path = REPO / "tools" / script
    cmd = ["bash", str(path)] if script.endswith(".sh") else [sys.executable, str(path)]
    return subprocess.Popen([*cmd, *map(str, args)], env=tool_env(PYTHON=sys.executable, **env), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _finish(job: subprocess.Popen, timeout: float = 600) -> str:
    """Output of a launched job; on a timeout its whole process group (torchrun and workers) is killed."""
    try:
        return job.communicate(timeout=timeout)[0]
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()


@pytest.mark.slow
def test_torchrun_restarts_a_killed_worker_and_ends_with_uninterrupted_weights(tmp_path, synthetic_imagefolder):
    data = ["--data_path", synthetic_imagefolder]
    full = tmp_path / "full"
    proc = run_tool("pretrain.sh", 2, *ARGS, *data, "--output_dir", full, MAX_RESTARTS="0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    cut = tmp_path / "cut"
    job = _launch("pretrain.sh", 2, *ARGS, *data, "--output_dir", cut, MAX_RESTARTS="2")
    _wait_for_epoch(cut / "checkpoint-last.pth", job)
    workers = _children(job.pid)  # bash exec'd torchrun: its children are the two workers
    assert len(workers) == 2, workers
    os.kill(workers[-1], signal.SIGKILL)
    killed_at = _epoch(cut / "checkpoint-last.pth")
    out = _finish(job)
    assert killed_at < EPOCHS, "the run finished before a worker could be killed"
    assert job.returncode == 0, out[-3000:]
    assert "failed (exitcode: -9)" in out, out[-3000:]  # torchrun saw the SIGKILL...
    assert out.count("resumed from") >= 2, out[-3000:]  # ...and the restarted workers resumed
    _same_weights(full / "checkpoint-last.pth", cut / "checkpoint-last.pth")


@pytest.mark.slow
def test_sigusr1_stops_after_a_saved_epoch_and_the_resumed_run_matches(tmp_path, synthetic_imagefolder):
    data = ["--data_path", synthetic_imagefolder]
    full = tmp_path / "full"
    assert run_tool("pretrain.py", *ARGS, *data, "--output_dir", full).returncode == 0
    cut = tmp_path / "cut"
    job = _launch("pretrain.py", *ARGS, *data, "--output_dir", cut)
    _wait_for_epoch(cut / "checkpoint-last.pth", job)
    job.send_signal(signal.SIGUSR1)
    out = _finish(job)
    stopped = _epoch(cut / "checkpoint-last.pth")
    assert job.returncode == 75 and 1 <= stopped < EPOCHS, (job.returncode, stopped, out[-3000:])
    resumed = run_tool("pretrain.sh", 1, *ARGS, *data, "--output_dir", cut)  # resumes by default
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"at epoch {stopped}" in resumed.stderr
    _same_weights(full / "checkpoint-last.pth", cut / "checkpoint-last.pth")


def _fake_slurm(tmp_path: Path) -> Path:
    """``srun`` (one task: exec the command) and ``scontrol`` (records its arguments): no Slurm on this machine."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text('#!/usr/bin/env bash\nwhile [[ "$1" == --* ]]; do shift; done\nexec "$@"\n')
    (bin_dir / "scontrol").write_text(f'#!/usr/bin/env bash\necho "$@" >> {tmp_path}/scontrol.log\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return bin_dir


@pytest.mark.slow
def test_slurm_script_stops_on_usr1_requeues_and_the_next_run_resumes(tmp_path, synthetic_imagefolder):
    data = ["--data_path", synthetic_imagefolder]
    full = tmp_path / "full"
    assert run_tool("pretrain.py", *ARGS, *data, "--output_dir", full).returncode == 0
    env = dict(PATH=f"{_fake_slurm(tmp_path)}:{os.environ['PATH']}", SLURM_JOB_ID="4242", MASTER_ADDR="127.0.0.1",
               SLURM_JOB_NODELIST="localhost")
    cut = tmp_path / "cut"
    job = _launch("slurm_pretrain.sh", *ARGS, *data, "--output_dir", cut, **env)
    _wait_for_epoch(cut / "checkpoint-last.pth", job)
    job.send_signal(signal.SIGUSR1)  # what --signal=B:USR1@600 does before the time limit
    out = _finish(job)
    stopped = _epoch(cut / "checkpoint-last.pth")
    assert job.returncode == 0 and 1 <= stopped < EPOCHS, (job.returncode, stopped, out[-3000:])
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", "4242"]
    again = run_tool("slurm_pretrain.sh", *ARGS, *data, "--output_dir", cut, **env)  # the requeued job
    assert again.returncode == 0 and f"at epoch {stopped}" in again.stderr, again.stderr[-3000:]
    _same_weights(full / "checkpoint-last.pth", cut / "checkpoint-last.pth")


def test_resume_refuses_another_config_and_a_finished_run_says_so(tmp_path, synthetic_imagefolder, tiny_mae_ckpt):
    """Auto-resume checks what it resumes: a saved config that differs in fields that change the result is refused
    naming them (nothing written); the finished run (1 of 1 epochs) only says so, with no retraining."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint-last.pth").write_bytes(tiny_mae_ckpt.read_bytes())
    before = (out / "checkpoint-last.pth").stat().st_mtime_ns
    same = [*TINY_MAE, "--device", "cpu", "--epochs", 1, "--warmup_epochs", 1, "--batch_size", 8, "--data_path",
            synthetic_imagefolder, "--num_workers", 0, "--max_iters_per_epoch", 2, "--vis_every", 0,
            "--no-tensorboard", "--output_dir", out, "--resume", "auto"]  # tests/conftest.py's tiny_mae_ckpt run
    other = run_tool("pretrain.py", *same, "--mask_ratio", 0.5, "--blr", 1e-3, "--num_workers", 1)
    assert other.returncode == 2, other.stderr[-2000:]
    err = other.stderr.strip().splitlines()[-1]
    assert err.startswith(f"error: refusing to resume {out / 'checkpoint-last.pth'}") and "3 field(s)" in err
    assert "mask_ratio (saved 0.75, requested 0.5)" in err and "; blr (saved" in err and "abs_lr (saved" in err
    assert "num_workers" not in err
    done = run_tool("pretrain.py", *same, "--num_workers", 1)  # a field that does not change the result
    assert done.returncode == 0, done.stderr[-2000:]
    assert "run already finished" in done.stderr and "1 of 1 epochs" in done.stderr
    assert "resumed from" not in done.stderr and "log.jsonl" not in {p.name for p in out.iterdir()}
    assert (out / "checkpoint-last.pth").stat().st_mtime_ns == before
