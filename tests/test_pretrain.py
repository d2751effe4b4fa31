"""The pretrainer end to end through its real entry points (torchrun/gloo, kill-and-resume, bad input)."""
import json
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

FAST = [*TINY_MAE, "--device", "cpu", "--batch_size", 8, "--num_workers", 0, "--no-tensorboard", "--vis_every", 0]


def pretrain(out, data, *extra, **kw):
    return run_tool("pretrain.py", *FAST, "--data_path", data, "--output_dir", out, *extra, **kw)


def test_torchrun_two_processes_on_cpu(tmp_path, synthetic_imagefolder):
    out = tmp_path / "run"
    proc = run_tool("pretrain.sh", 2, *TINY_MAE, "--device", "cpu", "--batch_size", 4, "--epochs", 2,
                    "--warmup_epochs", 1, "--data_path", synthetic_imagefolder, "--output_dir", out,
                    "--num_workers", 0, "--max_iters_per_epoch", 3, "--vis_every", 2, "--save_every", 1)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = load_file(out / "checkpoint-last.pth")
    assert ckpt["epoch"] == 2 and ckpt["config"]["world_size"] == 2 and ckpt["config"]["amp"] == "fp32"
    assert ckpt["config"]["effective_batch"] == 8 and ckpt["config"]["abs_lr"] == pytest.approx(1.5e-4 * 8 / 256)
    assert set(ckpt) >= {"model", "optimizer", "scaler", "epoch", "config", "meta"}
    assert (out / "checkpoint-1.pth").is_file() and (out / "checkpoint-2.pth").is_file()
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]
    assert all(r["loss"] > 0 and r["images_per_s"] > 0 and r["epoch_time_s"] > 0 and "lr" in r for r in rows)
    assert (out / "vis" / "recon_epoch0002.png").stat().st_size > 1000
    assert (out / "loss_curve.png").is_file()
    assert list((out / "tb").glob("events.out.tfevents.*"))


def test_config_file_and_synthetic_default(tmp_path):
    out = tmp_path / "quick"
    proc = run_tool("pretrain.py", "--config", REPO / "configs/pretrain/quick.py", "--epochs", 1,
                    "--max_iters_per_epoch", 2, "--synthetic_num", 40, "--output_dir", out, "--no-tensorboard")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "built-in synthetic dataset" in proc.stderr
    cfg = load_file(out / "checkpoint-last.pth")["config"]
    assert cfg["norm_pix_loss"] is True and cfg["decoder_embed_dim"] == 128 and cfg["model"] == "mae_vit_tiny_patch16"
    assert (out / "vis" / "recon_epoch0001.png").is_file()


def _wait_for_epoch(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout and proc.poll() is None:
        if path.exists():
            try:
                if load_file(path)["epoch"] >= 1:
                    return
            except Exception:  # mid-rename on a slow disk: try again
                pass
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint after epoch 1 (returncode {proc.poll()})")


def test_kill_and_resume_reproduces_uninterrupted_weights(tmp_path, synthetic_imagefolder):
    args = ["--epochs", 4, "--warmup_epochs", 1, "--max_iters_per_epoch", 3, "--seed", 3]
    full = tmp_path / "full"
    assert pretrain(full, synthetic_imagefolder, *args).returncode == 0
    cut = tmp_path / "cut"
    cmd = [sys.executable, str(REPO / "tools/pretrain.py"), *map(str, FAST), "--data_path", str(synthetic_imagefolder),
           "--output_dir", str(cut), *map(str, args)]
    proc = subprocess.Popen(cmd, env=tool_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_epoch(cut / "checkpoint-last.pth", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stopped_at = load_file(cut / "checkpoint-last.pth")["epoch"]
    assert stopped_at < 4, "the run finished before it could be killed"
    resumed = pretrain(cut, synthetic_imagefolder, *args, "--resume", "auto")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = load_file(full / "checkpoint-last.pth"), load_file(cut / "checkpoint-last.pth")
    assert b["epoch"] == 4
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, synthetic_imagefolder):
    out = tmp_path / "nan"
    assert pretrain(out, synthetic_imagefolder, "--epochs", 1, "--max_iters_per_epoch", 2).returncode == 0
    good = (out / "checkpoint-last.pth").read_bytes()
    # an explicit --resume PATH: another lr and schedule on purpose (an auto-resume would refuse them)
    proc = pretrain(out, synthetic_imagefolder, "--epochs", 2, "--max_iters_per_epoch", 3, "--resume",
                    out / "checkpoint-last.pth", "--lr", "1e30", "--warmup_epochs", 0)
    assert proc.returncode != 0
    assert "loss is" in proc.stderr and "at epoch 1 iteration" in proc.stderr
    assert (out / "checkpoint-last.pth").read_bytes() == good


def test_bad_data_input(tmp_path, synthetic_imagefolder):
    proc = pretrain(tmp_path / "o1", tmp_path / "nowhere")
    assert proc.returncode != 0 and "nowhere" in proc.stderr
    (tmp_path / "empty" / "train").mkdir(parents=True)
    proc = pretrain(tmp_path / "o2", tmp_path / "empty")
    assert proc.returncode != 0 and "holds no images" in proc.stderr
    bad = tmp_path / "bad"
    (bad / "train" / "a").mkdir(parents=True)
    for i, src in enumerate(sorted((synthetic_imagefolder / "train").rglob("*.jpg"))[:16]):
        (bad / "train" / "a" / f"{i:02d}.jpg").write_bytes(src.read_bytes())
    (bad / "train" / "a" / "00.jpg").write_bytes(b"not a jpeg at all")
    proc = pretrain(tmp_path / "o3", bad, "--epochs", 1, "--max_iters_per_epoch", 2)
    assert proc.returncode != 0 and "00.jpg" in proc.stderr and "--skip_corrupt" in proc.stderr
    proc = pretrain(tmp_path / "o4", bad, "--epochs", 1, "--max_iters_per_epoch", 2, "--skip_corrupt")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "skipping cannot read image" in proc.stderr and "00.jpg" in proc.stderr


def test_unknown_model_and_flags(tmp_path, synthetic_imagefolder):
    proc = run_tool("pretrain.py", "--model", "mae_vit_gigantic", "--data_path", synthetic_imagefolder,
                    "--output_dir", tmp_path, "--device", "cpu")
    assert proc.returncode != 0 and "mae_vit_base_patch16" in proc.stderr and "mae_vit_gigantic" in proc.stderr
    proc = run_tool("pretrain.py", "--config", tmp_path / "missing.py")
    assert proc.returncode != 0 and "missing.py" in proc.stderr


def _resume_with(tmp_path, data, ckpt: Path):
    out = tmp_path / f"resume_{ckpt.stem}"
    return pretrain(out, data, "--epochs", 2, "--resume", ckpt)


def test_bad_resume_files(tmp_path, synthetic_imagefolder, tiny_mae_ckpt):
    data = tiny_mae_ckpt.read_bytes()
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(data[: len(data) // 2])
    proc = _resume_with(tmp_path, synthetic_imagefolder, truncated)
    assert proc.returncode != 0 and "truncated.pth" in proc.stderr
    obj = load_file(tiny_mae_ckpt)
    obj["model"]["blocks.0.attn.qkv.weight"] = torch.zeros(3, 3)
    wrong = tmp_path / "wrong_shape.pth"
    torch.save(obj, wrong)
    proc = _resume_with(tmp_path, synthetic_imagefolder, wrong)
    assert proc.returncode != 0 and "blocks.0.attn.qkv.weight" in proc.stderr and "(3, 3)" in proc.stderr


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_resume_refuses_pickled_code(tmp_path, synthetic_imagefolder):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"model": {}, "epoch": 1, "payload": _Evil(marker)}, evil)
    proc = _resume_with(tmp_path, synthetic_imagefolder, evil)
    assert proc.returncode != 0 and "evil.pth" in proc.stderr and "refusing" in proc.stderr
    assert not marker.exists()


def test_amp_fp16_trains_with_a_loss_scaler_and_saves_it(tmp_path, synthetic_imagefolder, caplog):
    """amp fp16 (--amp fp16): the official fp16 autocast + GradScaler (engine/amp.py); the checkpoint keeps the
    scaler's state, the config and the log say which amp ran. In-process: the tool's flags are the config's fields."""
    from mae_bench.methods import PretrainConfig
    from mae_bench.pretrain import run_pretrain

    out = tmp_path / "fp16"
    cfg = PretrainConfig(model="mae_vit_tiny_patch16", input_size=64, decoder_embed_dim=64, decoder_depth=1,
                         decoder_num_heads=4, device="cpu", batch_size=8, num_workers=0, tensorboard=False,
                         vis_every=0, data_path=str(synthetic_imagefolder), output_dir=str(out), amp="fp16", epochs=1,
                         max_iters_per_epoch=2)
    with caplog.at_level("INFO", logger="mae_bench.pretrain"):
        run_pretrain(cfg)
    ckpt = load_file(out / "checkpoint-last.pth")
    assert ckpt["config"]["amp"] == "fp16" and ckpt["scaler"]["scale"] > 0 and "_growth_tracker" in ckpt["scaler"]
    assert "effective batch 8" in caplog.text and "fp16" in caplog.text
