"""`make demo QUICK=1`: the whole story (data, three pretrainings, four inits x four tasks, tables) end to end."""
import dataclasses
import json
import math
from pathlib import Path

from conftest import run_tool
from mae_bench.demo import CHEAP_TASKS, FULL, INITS, TASKS, plan


def test_quick_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    proc = run_tool("demo.py", "--quick", "--out", out, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-2000:]
    records = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    expected = sorted((t, i) for t in (*TASKS, *CHEAP_TASKS) for i in INITS)
    assert sorted((r["task"], r["pretrain_method"]) for r in records) == expected
    for r in records:
        assert r["model"] == "vit-micro" and r["seed"] == 0 and r["dataset"].startswith("synthetic")
        assert r["metrics"] and all(math.isfinite(v) for v in r["metrics"].values())
    assert {"AP_box", "AP_mask"} <= set(next(r for r in records if r["task"] == "coco")["metrics"])
    assert "mIoU" in next(r for r in records if r["task"] == "ade20k")["metrics"]
    summary = (out / "tables" / "summary.md").read_text()
    for init in INITS:
        assert f"{init}-demo" in summary
    assert summary.strip() in proc.stdout  # printed at the end
    for name in ("mae_reconstructions.png", "pretrain_mae_loss.png", "pretrain_mocov3_loss.png"):
        assert (out / name).stat().st_size > 1000, name
    tables = out / "tables"
    assert (tables / "coco_synthetic_coco.tex").is_file() and (tables / "coco_synthetic_coco_AP-box.png").is_file()
    assert (tables / "report.html").is_file() and max(map(len, summary.splitlines())) <= 100


def test_dense_seeds_flag(tmp_path):
    """--dense-seeds N plans COCO and ADE20K with seeds 0..N-1 for every init; a bad value exits 2 naming the flag."""
    jobs = plan(tmp_path, Path("."), dataclasses.replace(FULL, dense_seeds=(0, 1, 2)))
    names = {j.name for j in jobs}
    assert all(f"{t}:{i}:s{s}" in names for t in ("coco", "ade20k") for i in INITS for s in (0, 1, 2))
    proc = run_tool("demo.py", "--dense-seeds", "0", "--out", tmp_path / "never")
    assert proc.returncode == 2 and "--dense-seeds" in proc.stderr and not (tmp_path / "never").exists()
