"""What a cluster user meets (docs/faults.md): many processes finishing at once, full disks, diverged weights, bad
settings, signals and corrupt files; each run as a user would, in real processes."""
from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, TINY_MAE, run_tool, tool_env
from mae_bench.results import make_record, write_record

RECORD_KW = dict(model="vit_tiny_patch16", init="mae_e1", pretrain_method="mae", pretrain_epochs=1, ckpt=None,
                 config="knn.py", cfg_options=None, seed=0, world_size=1, started="2026-01-01T00:00:00+00:00",
                 wall_time_s=1.0)


@contextlib.contextmanager
def full_folder(path: Path, kib: int = 64):
    """``path`` on a small tmpfs filled to the last byte (a full disk), unmounted afterwards.

    Returns ``None`` where this machine does not let a test mount one (not root); ``limited_writes`` is the fallback."""
    path.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        yield None
        return
    try:
        with open(path / "filler", "wb", buffering=0) as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 4096)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def limited_writes(max_bytes: int = 0):
    """A ``preexec_fn`` for a child whose files cannot grow past ``max_bytes`` (RLIMIT_FSIZE: writes fail with EFBIG,
    as on a full disk), the fallback where no tmpfs can be mounted."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return limit


# --- result records ------------------------------------------------------------------------------------------------

WRITER = """
import sys, time, json
from mae_bench.results import write_record
record, runs, writer, start = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
while time.time() < start:
    pass
for n in range(20):
    print(write_record(dict(record, writer=writer, n=n), runs), flush=True)
"""


def test_records_of_processes_finishing_at_once_are_all_kept(tmp_path):
    """Eight processes write five records each under one name in the same instant: 40 files, none replaced."""
    record = make_record("knn", "synthetic", dict(top1=50.0), **RECORD_KW)
    runs, start = tmp_path / "runs", time.time() + 1.5
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, json.dumps(record), str(runs), str(i), str(start)],
                              env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(8)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err for _, err in outs]
    printed = [Path(line) for out, _ in outs for line in out.split()]
    files = sorted(runs.iterdir())
    assert len(printed) == len(set(printed)) == 160 and sorted(printed) == files  # no temp file left either
    found = {(r["writer"], r["n"]) for r in (json.loads(p.read_text()) for p in files)}
    assert found == {(i, n) for i in range(8) for n in range(20)}


def test_record_names_hold_the_dataset(tmp_path):
    records = [make_record("knn", ds, dict(top1=1.0), **RECORD_KW) for ds in ("a", "b", "a")]
    for r in records:  # one finish time: the two records of dataset a differ by the claimed suffix alone
        r["finished"] = records[0]["finished"]
    paths = [write_record(r, tmp_path) for r in records]
    assert [p.name.split("_")[1] for p in paths] == ["a", "b", "a"]
    assert paths[0].stem + "-2" == paths[2].stem


def test_record_on_a_full_disk_is_printed_to_stderr(tmp_path):
    record = make_record("knn", "synthetic", dict(top1=12.5), **RECORD_KW)
    code = ("import json, sys\nfrom mae_bench.results import RecordError, write_record\ntry:\n"
            "    write_record(json.loads(sys.argv[1]), sys.argv[2])\nexcept RecordError as e:\n"
            "    sys.exit(f'error: {e}')")
    with full_folder(tmp_path / "disk") as disk:
        runs = (disk or tmp_path) / "runs"
        proc = subprocess.run([sys.executable, "-c", code, json.dumps(record), str(runs)], env=tool_env(),
                              capture_output=True, text=True, timeout=60,
                              preexec_fn=None if disk else limited_writes())
        assert proc.returncode != 0
        assert "could not write the result record" in proc.stderr and str(runs) in proc.stderr
        printed = proc.stderr[proc.stderr.index("{"):proc.stderr.rindex("}") + 1]
        assert json.loads(printed) == record
        assert not runs.exists() or not list(runs.iterdir())  # no half record, no temp file


# --- the feature cache ---------------------------------------------------------------------------------------------

def launch(tmp_path: Path, name: str, script: str, *args, **env):
    """A tool run started in the background (a forked process, as ``run_tool``); ``finish`` waits for it."""
    from mae_bench import forkrun

    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    return forkrun.ForkedRun(REPO / "tools" / script, args, tool_env(**env), REPO, out, err), out, err


def finish(job, timeout: float = 300) -> tuple[int, str]:
    run, out, err = job
    code = run.wait(timeout)
    return code, out.read_text() + err.read_text()


def knn_args(tmp_path: Path, ckpt: Path, data: Path, name: str, *extra) -> list:
    return ["--task", "knn", "--ckpt", ckpt, "--data-root", data, "--work-dir", tmp_path / name, "--runs-dir",
            tmp_path / "runs", "--device", "cpu", "--cfg-options", f"cache_dir={tmp_path / 'cache'}", *extra]


def test_feature_cache_shared_by_concurrent_runs_and_rebuilt_when_corrupt(tmp_path, tiny_mae_ckpt,
                                                                         synthetic_imagefolder):
    """Three k-NN runs cache the same features at once: all finish with one record each; a corrupt cache file is
    then removed with a warning naming it and computed again."""
    jobs = [launch(tmp_path, f"knn{i}", "transfer.py", *knn_args(tmp_path, tiny_mae_ckpt, synthetic_imagefolder,
                                                                   f"w{i}"), OMP_NUM_THREADS="1") for i in range(3)]
    results = [finish(job) for job in jobs]
    assert [code for code, _ in results] == [0, 0, 0], results
    records = sorted((tmp_path / "runs").glob("knn_*.json"))
    assert len(records) == 3
    top1 = {json.loads(p.read_text())["metrics"]["top1"] for p in records}
    assert len(top1) == 1
    cache = tmp_path / "cache"
    files = sorted(cache.iterdir())
    assert [p.suffix for p in files].count(".pt") == 2 and not [p for p in files if ".tmp" in p.name], files
    bad = next(cache.glob("*.pt"))
    bad.write_bytes(b"not a torch file")
    proc = run_tool("transfer.py", *knn_args(tmp_path, tiny_mae_ckpt, synthetic_imagefolder, "w3"),
                    OMP_NUM_THREADS="1")
    assert proc.returncode == 0, proc.stderr
    assert f"feature cache file {bad} is unusable" in proc.stderr and "computed again" in proc.stderr
    assert bad.stat().st_size > 100 and len(list((tmp_path / "runs").glob("knn_*.json"))) == 4
    assert {json.loads(p.read_text())["metrics"]["top1"] for p in (tmp_path / "runs").glob("knn_*.json")} == top1
    with full_folder(tmp_path / "disk") as disk:  # a full cache disk costs the cache, not the run
        if disk is not None:
            args = knn_args(tmp_path, tiny_mae_ckpt, synthetic_imagefolder, "w4")
            proc = run_tool("transfer.py", *args[:-1], f"cache_dir={disk / 'cache'}", OMP_NUM_THREADS="1")
            assert proc.returncode == 0 and "not cached: could not save" in proc.stderr, proc.stderr[-2000:]
            assert not list((disk / "cache").iterdir())


# --- diverged weights ----------------------------------------------------------------------------------------------

PRETRAIN = [*TINY_MAE, "--device", "cpu", "--batch_size", 4, "--num_workers", 0, "--no-tensorboard", "--vis_every", 0,
            "--warmup_epochs", 0, "--max_iters_per_epoch", 1]


def pretrain(out: Path, data: Path, *args, **kw):
    return run_tool("pretrain.py", *PRETRAIN, "--data_path", data, "--output_dir", out, *args, OMP_NUM_THREADS="1",
                    **kw)


def test_diverged_weights_are_never_saved_nor_probed(tmp_path, synthetic_imagefolder):
    """An lr that turns the weights to inf in one step (the loss of that step is still finite): the checkpoint of
    the epoch is refused, the last good one stays and is named; k-NN refuses a file holding NaN weights."""
    out = tmp_path / "run"
    assert pretrain(out, synthetic_imagefolder, "--epochs", 1).returncode == 0
    good = (out / "checkpoint-last.pth").read_bytes()
    proc = pretrain(out, synthetic_imagefolder, "--epochs", 3, "--save_every", 1, "--lr", "1e300",
                    "--resume", out / "checkpoint-last.pth")
    assert proc.returncode == 3, proc.stderr
    assert "not saving" in proc.stderr and "NaN or inf" in proc.stderr
    assert f"the last good checkpoint, {out / 'checkpoint-last.pth'}, is kept" in proc.stderr
    assert (out / "checkpoint-last.pth").read_bytes() == good and not (out / "checkpoint-2.pth").exists()
    import torch

    from mae_bench.checkpoints import load_file
    ckpt = load_file(out / "checkpoint-last.pth")
    ckpt["model"]["blocks.0.attn.qkv.weight"][0, 0] = float("nan")
    bad = tmp_path / "diverged.pth"
    torch.save(ckpt, bad)
    proc = run_tool("transfer.py", *knn_args(tmp_path, bad, synthetic_imagefolder, "knn"), OMP_NUM_THREADS="1")
    assert proc.returncode == 2 and f"refusing the checkpoint {bad}" in proc.stderr, proc.stderr
    assert "blocks.0.attn.qkv.weight" in proc.stderr and not (tmp_path / "runs").exists()


# --- settings ------------------------------------------------------------------------------------------------------

BAD_PRETRAIN = [  # (arguments, what the one-line error must say)
    (["--clip_grad", "-1"], "clip_grad=-1.0 (from the flag --clip_grad) is out of range: allowed > 0"),
    (["--mask_ratio", "1.5"], "mask_ratio=1.5 (from the flag --mask_ratio) is out of range: allowed 0 < x < 1"),
    (["--mask_ratio", "0"], "mask_ratio=0.0"),
    (["--epochs", "0"], "epochs=0 (from the flag --epochs) is out of range: allowed >= 1"),
    (["--accum_iter", "0"], "accum_iter=0"),
    (["--max_iters_per_epoch", "0"], "max_iters_per_epoch=0"),
    (["--save_every", "-1"], "save_every=-1 (from the flag --save_every) is out of range: allowed >= 0"),
    (["--crop_scale", "0.9,0.2"], "crop_scale=(0.9, 0.2) (from the flag --crop_scale) is out of range: allowed two "
                                  "numbers LO,HI with LO <= HI"),
    (["--min_lr", "1", "--lr", "0.1"], "min_lr is above lr"),
    (["--input_size", "36"], "input_size must be a multiple of the patch size 16 (input_size=36 from the flag "
                             "--input_size, model='mae_vit_tiny_patch16'"),
    (["--batch_size", "0"], "batch_size=0"),
    (["--drop_path", "1.5"], "drop_path=1.5 (from the flag --drop_path) is out of range: allowed 0 <= x < 1"),
    (["--moco_t", "-1"], "moco_t=-1.0 (from the flag --moco_t) is out of range: allowed > 0"),
    (["--pca_dim", "0"], "pca_dim=0 (from the flag --pca_dim) is out of range: allowed >= 1"),
    (["--model_ema_decay", "1.5"], "model_ema_decay=1.5 (from the flag --model_ema_decay) is out of range"),
    (["--config", "FILE:epochs = '2'"], "epochs='2' (from FILE) is not an integer"),
    (["--config", "FILE:batch_size = 8.5"], "batch_size=8.5 (from FILE) is not an integer"),
]
BAD_TRANSFER = [
    (["--task", "knn", "--cfg-options", "nb_knn=[0]"], "nb_knn=[0] (from --cfg-options) is out of range: allowed a "
                                                       "non-empty list of integers >= 1"),
    (["--task", "knn", "--cfg-options", "temperature=-1"], "temperature=-1"),
    (["--task", "knn", "--cfg-options", "input_size=abc"], "input_size='abc' (from --cfg-options) is not an integer"),
    (["--task", "finetune", "--epochs", "0"], "epochs=0 (from the flag --epochs) is out of range"),
    (["--task", "finetune", "--cfg-options", "layer_decay=-1"], "layer_decay=-1"),
    (["--task", "attentive", "--config", "FILE:_base_ = ['" + str(REPO / "configs/attentive/quick.py") + "']\n"
      "epochs = '2'"], "epochs='2' (from FILE) is not an integer"),
]


def _file_args(args: list, tmp_path: Path, i: int) -> tuple[list, str | None]:
    """``FILE:<text>`` in ``args`` becomes a config file holding the text; returns the args and its path."""
    out, path = [], None
    for a in args:
        if a.startswith("FILE:"):
            path = tmp_path / f"bad{i}.py"
            path.write_text(a[5:] + "\n")
            a = str(path)
        out.append(a)
    return out, path


def _refusal(args: list, tmp_path: Path) -> str:
    """The ConfigError message of the settings step of a pretraining (``tools/pretrain.py``'s parse) or transfer run
    (the skeleton's ``prepare``) with ``args``, in this process."""
    import importlib.util

    from mae_bench.errors import ConfigError
    from mae_bench.transfer import TransferArgs
    from mae_bench.transfer.skeleton import prepare, task_for

    with pytest.raises(ConfigError) as e:
        if args[0] == "--task":
            kw = dict(zip(args[2::2], args[3::2]))
            opts = kw.pop("--cfg-options", None)
            prepare(TransferArgs(args[1], "random", work_dir=str(tmp_path / "w"), cfg_options=[opts] if opts else [],
                                 config=kw.get("--config"), epochs=int(kw["--epochs"]) if "--epochs" in kw else None),
                    task_for(args[1]))
        else:
            spec = importlib.util.spec_from_file_location("pretrain_tool", REPO / "tools" / "pretrain.py")
            tool = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(tool)
            tool.parse([*map(str, TINY_MAE), *args])
    return str(e.value)


def test_bad_settings_are_refused_before_any_work(tmp_path):
    """Every example is refused by the one settings check, naming key, value, origin and range; three of them run
    as a user would: exit 2 in seconds, one line, no output folder made."""
    for i, (args, message) in enumerate(BAD_PRETRAIN + BAD_TRANSFER):
        args, path = _file_args(args, tmp_path, i)
        assert message.replace("FILE", str(path)) in _refusal(args, tmp_path), args
    for i in (0, len(BAD_PRETRAIN) - 1, len(BAD_PRETRAIN)):
        (args, message), work = (BAD_PRETRAIN + BAD_TRANSFER)[i], tmp_path / f"out{i}"
        args, path = _file_args(args, tmp_path, i)
        if args[0] == "--task":
            proc = run_tool("transfer.py", *args, "--ckpt", "random", "--device", "cpu", "--work-dir", work,
                            "--runs-dir", tmp_path / "runs", timeout=120)
        else:
            proc = run_tool("pretrain.py", *TINY_MAE, "--device", "cpu", "--output_dir", work, *args, timeout=120)
        assert proc.returncode == 2 and f"error: {message.replace('FILE', str(path))}" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and not work.exists() and not (tmp_path / "runs").exists(), args


# --- output folder owners ------------------------------------------------------------------------------------------

def test_output_folder_has_one_owner(tmp_path, synthetic_imagefolder):
    """A second run into a live run's folder is refused naming its pid and host; a killed owner's folder is taken
    over and its temp files removed; a fresh run into a folder with checkpoints needs --resume."""
    import socket

    out = tmp_path / "run"
    args = [*PRETRAIN, "--data_path", synthetic_imagefolder, "--output_dir", out, "--epochs", 2]
    job = launch(tmp_path, "first", "pretrain.py", *args, OMP_NUM_THREADS="1")
    pid, t0 = job[0].process.pid, time.time()
    while not (out / ".owner").exists() and time.time() - t0 < 120 and job[0].poll() is None:
        time.sleep(0.01)
    os.kill(pid, signal.SIGSTOP)  # the first run holds the folder
    try:
        second = pretrain(out, synthetic_imagefolder, "--epochs", 2)
        third = run_tool("transfer.py", *knn_args(tmp_path, "random", synthetic_imagefolder, "run"))
    finally:
        os.kill(pid, signal.SIGKILL)
        job[0].wait(60)
    for proc, flag in ((second, "--output_dir"), (third, "--work-dir")):
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert f"{flag} {out} is in use by another run: pid {pid} on host {socket.gethostname()}" in proc.stderr
    stale = out / f".checkpoint-last.pth.tmp{pid}"
    stale.write_bytes(b"\0" * 1000)  # what a save killed by SIGKILL leaves
    resumed = pretrain(out, synthetic_imagefolder, "--epochs", 2, "--resume", "auto")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"taking over from pid {pid}" in resumed.stderr and f"removed {stale}" in resumed.stderr
    assert not stale.exists() and not (out / ".owner").exists()
    finished = (out / "checkpoint-last.pth").read_bytes()
    fresh = pretrain(out, synthetic_imagefolder, "--epochs", 1)
    assert fresh.returncode == 2 and "holds checkpoint-last.pth of an earlier run: pass --resume auto" in fresh.stderr
    assert (out / "checkpoint-last.pth").read_bytes() == finished


# --- full disks and corrupt files ----------------------------------------------------------------------------------

def test_full_disk_during_a_checkpoint_save(tmp_path, synthetic_imagefolder):
    """The checkpoint does not fit: one line naming the file and the free space, exit 2, no temp file left."""
    with full_folder(tmp_path / "disk", kib=4096) as disk:
        if disk is not None:
            (disk / "filler").unlink()  # room for the logs, not for a checkpoint (~70 MB)
            out = disk / "run"
            proc = pretrain(out, synthetic_imagefolder, "--epochs", 1)
        else:
            out = tmp_path / "run"
            proc = subprocess.run([sys.executable, str(REPO / "tools/pretrain.py"), *map(str, PRETRAIN), "--data_path",
                                   str(synthetic_imagefolder), "--output_dir", str(out), "--epochs", "1"],
                                  env=tool_env(OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=300,
                                  preexec_fn=limited_writes(4 << 20))
        assert proc.returncode == 2, proc.stderr[-2000:]
        line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("error:"))
        assert f"could not save {out / 'checkpoint-last.pth'}" in line and "MB free on that file system" in line
        assert "Traceback" not in proc.stderr
        left = sorted(p.name for p in out.iterdir())
        assert not [n for n in left if ".tmp" in n or n.startswith("checkpoint")], left


GARBAGE = {"text.pth": b"hello " * 20, "random.pth": bytes(range(256)) * 20, "empty.pth": b"",
           "zip.pth": b"PK\x05\x06" + b"\0" * 18}


@pytest.mark.slow
def test_corrupt_checkpoints_are_named_and_auto_resume_falls_back(tmp_path, synthetic_imagefolder):
    """Garbage, truncated and bit-flipped files: a CheckpointError naming the file, never a traceback; auto-resume
    passes over a corrupt checkpoint-last.pth to the newest valid checkpoint-N.pth, and the log never repeats an
    epoch."""
    for name, data in GARBAGE.items():
        (tmp_path / name).write_bytes(data)
        proc = run_tool("convert_ckpt.py", tmp_path / name, tmp_path / "out.pth")
        assert proc.returncode == 2 and f"cannot read checkpoint {tmp_path / name}" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    out = tmp_path / "run"
    assert pretrain(out, synthetic_imagefolder, "--epochs", 2, "--save_every", 1).returncode == 0
    assert (out / "checkpoint-1.pth.sha256").is_file()
    flipped = bytearray((out / "checkpoint-2.pth").read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF  # inside a tensor: it would load silently
    (out / "checkpoint-2.pth").write_bytes(flipped)
    proc = run_tool("transfer.py", *knn_args(tmp_path, out / "checkpoint-2.pth", synthetic_imagefolder, "knn"))
    assert proc.returncode == 2 and f"checkpoint {out / 'checkpoint-2.pth'} is corrupt" in proc.stderr
    last = out / "checkpoint-last.pth"
    last.write_bytes(last.read_bytes()[:5000])  # truncated
    with open(out / "log.jsonl", "a") as f:
        f.write('{"epoch": 2, "lo')  # a line cut off (by a full disk)
    proc = pretrain(out, synthetic_imagefolder, "--epochs", 2, "--save_every", 1, "--resume", "auto")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"passing over {last}" in proc.stderr and f"passing over {out / 'checkpoint-2.pth'}" in proc.stderr
    assert f"resumed from {out / 'checkpoint-1.pth'} at epoch 1" in proc.stderr
    assert "is not a JSON object (cut off?); skipped" in proc.stderr
    epochs = [json.loads(line)["epoch"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert epochs == [0, 1] and (out / "loss_curve.png").is_file()


# --- signals -------------------------------------------------------------------------------------------------------

def _signal_when_training(job, sig: int, timeout: float = 120) -> tuple[int, str]:
    """Send ``sig`` to a launched run once its training loop has started; its status and output.

    SIGTERM waits 0.3 s more, for the loop to install its handler; SIGINT needs none (Python's own handler raises
    KeyboardInterrupt anywhere), and a wait would let a resumed run of two short epochs finish first."""
    run, out, err = job
    t0 = time.time()
    while (not err.exists() or "iterations/epoch" not in err.read_text()) and run.poll() is None and \
            time.time() - t0 < timeout:
        time.sleep(0.02)
    if sig != signal.SIGINT:
        time.sleep(0.3)
    os.kill(run.process.pid, sig)
    return finish(job)


@pytest.mark.slow
def test_sigterm_stops_after_a_checkpoint_and_sigint_is_one_line(tmp_path, synthetic_imagefolder):
    out = tmp_path / "run"
    args = [*PRETRAIN, "--data_path", synthetic_imagefolder, "--output_dir", out, "--epochs", 3,
            "--max_iters_per_epoch", 3, "--resume", "auto"]
    code, text = _signal_when_training(launch(tmp_path, "term", "pretrain.py", *args, OMP_NUM_THREADS="1"),
                                       signal.SIGTERM)
    assert code == 75 and "SIGTERM received: stopping after this epoch's checkpoint (exit 75" in text, text[-2000:]
    from mae_bench.checkpoints import load_file

    saved = load_file(out / "checkpoint-last.pth")["epoch"]
    assert 1 <= saved < 3 and len((out / "log.jsonl").read_text().splitlines()) == saved
    code, text = _signal_when_training(launch(tmp_path, "int", "pretrain.py", *args, OMP_NUM_THREADS="1"),
                                       signal.SIGINT)
    assert code == 130 and "interrupted (SIGINT)" in text and "Traceback" not in text, text[-2000:]
    assert not (out / ".owner").exists()
    assert run_tool("pretrain.py", *args, OMP_NUM_THREADS="1").returncode == 0
    assert [json.loads(line)["epoch"] for line in (out / "log.jsonl").read_text().splitlines()] == [0, 1, 2]


def test_an_owner_on_another_host_is_refused_unless_it_is_this_slurm_job(tmp_path, monkeypatch, caplog):
    """A folder owned from another node cannot be checked from here: refused naming it; a requeue of the same Slurm
    job (same SLURM_JOB_ID, another node) takes it over."""
    from mae_bench.engine.outdir import claim
    from mae_bench.errors import ConfigError

    (tmp_path / ".owner").write_text(json.dumps(dict(pid=4242, host="node-a", slurm_job="77")) + "\n")
    monkeypatch.setenv("SLURM_JOB_ID", "78")
    with pytest.raises(ConfigError, match="is in use by another run: pid 4242 on host node-a"):
        claim(tmp_path)
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    owner = claim(tmp_path)
    assert "taking over from pid 4242 on host node-a" in caplog.text
    assert json.loads((tmp_path / ".owner").read_text())["pid"] == os.getpid()
    owner.release()
    assert not (tmp_path / ".owner").exists()
