"""`make demo QUICK=1`: the whole story (data, three pretrainings, four inits x four tasks, tables) end to end;
`tools/demo.py --check` on hand-made record sets with known spreads; the generated block of results/demo/README.md
matches the committed records."""
import dataclasses
import json
import math
from pathlib import Path

import pytest

from conftest import REPO, run_tool
from mae_bench.demo import CHEAP_TASKS, CLAIMS_BEGIN, CLAIMS_END, COMMITTED, FULL, INITS, TASKS, claims_block, plan
from mae_bench.results import load_record_dirs, make_record, write_record
from mae_bench.tables import build_cells


@pytest.mark.slow
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


def write_set(runs: Path, cells: dict, first_seed: int = 0) -> None:
    """``cells``: (task, init) -> the metric of each seed (seeds first_seed, first_seed + 1, ...)."""
    for (task, init), values in cells.items():
        metric = {"coco": "AP_box", "ade20k": "mIoU"}.get(task, "top1")
        for seed, value in enumerate(values, first_seed):
            rec = make_record(task, "synthetic", {metric: value}, model="vit-micro", init=init, pretrain_method=init,
                              pretrain_epochs=1, ckpt=None, config="c.py", cfg_options=None, seed=seed, world_size=1,
                              started="2026-01-01T00:00:00+00:00", wall_time_s=1.0)
            write_record(rec, runs, name=f"{task}_{init}_s{seed}")


def test_check_against_committed_spread(tmp_path):
    """Allowed distance = max(2 std, 2 points): mae coco 4.0 +- 1.5 allows 3.0, random coco (std 0.1) the floor 2.0,
    the one-seed k-NN cell the floor; the fresh run's cells at 6.9 (in), 5.5 (out), 11.5 (in), 30.0 (in)."""
    committed = tmp_path / "committed"
    write_set(committed, {("coco", "mae"): [2.5, 4.0, 5.5], ("coco", "random"): [3.3, 3.4, 3.5],
                          ("knn", "mae"): [10.0], ("finetune", "mae"): [30.0, 31.0, 29.0]})
    fresh = tmp_path / "fresh" / "runs"
    write_set(fresh, {("coco", "mae"): [6.9], ("coco", "random"): [5.5], ("knn", "mae"): [11.5],
                      ("finetune", "mae"): [30.0]})
    proc = run_tool("demo.py", "--check", tmp_path / "fresh", "--committed", committed)
    assert proc.returncode == 1, proc.stderr
    outside = [ln for ln in proc.stdout.splitlines() if ln.endswith("| outside |")]
    assert outside == ["| AP box on synthetic | random | 3.40 ± 0.10 (n=3) | 5.50 (n=1) | 2.00 | outside |"]
    assert "3 of 4 compared cells within the committed spread; 1 outside." in proc.stdout
    assert "max(2 x the committed std over seeds, 2 points)" in proc.stdout
    write_set(fresh, {("coco", "random"): [3.9], ("linprobe", "mae"): [40.0]}, first_seed=1)  # random's mean 4.7
    proc = run_tool("demo.py", "--check", fresh, "--committed", committed, "--floor", "1")
    assert proc.returncode == 1 and "| AP box on synthetic | random | 3.40 ± 0.10 (n=3) | 4.70 (n=2) | 1.00 |" in \
        proc.stdout and "| linear on synthetic | mae | - | 40.00 (n=1) | 1.00 | new |" in proc.stdout
    assert "| k-NN on synthetic | mae | 10.00 (n=1) | 11.50 (n=1) | 1.00 | outside |" in proc.stdout
    assert "| AP box on synthetic | mae |" not in proc.stdout  # 6.9 against 4.0 +- 1.5: within
    proc = run_tool("demo.py", "--check", committed, "--committed", committed)
    assert proc.returncode == 2 and "committed records" in proc.stderr
    proc = run_tool("demo.py", "--check", tmp_path / "nothing", "--committed", committed)
    assert proc.returncode == 2 and "nothing" in proc.stderr
    write_set(tmp_path / "other", {("finetune", "dino"): [50.0]})  # nothing to compare with: not a pass
    proc = run_tool("demo.py", "--check", tmp_path / "other", "--committed", committed)
    assert proc.returncode == 2 and "no cell of the fresh run matches" in proc.stderr


def test_check_passes_on_the_committed_records_themselves(tmp_path):
    """Every committed cell is within its own spread: a copy of results/demo/runs checks clean (exit 0)."""
    records, _ = load_record_dirs([REPO / c for c in COMMITTED])
    for i, rec in enumerate(r for r in records if r["task"] in ("finetune", "knn")):
        write_record(rec, tmp_path / "runs", name=f"r{i:02d}")
    proc = run_tool("demo.py", "--check", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0 outside." in proc.stdout and "| not run |" in proc.stdout  # the dense cells were left out


def test_readme_claims_follow_from_the_committed_records():
    """The generated block of results/demo/README.md is what tools/demo.py --claims writes from the committed
    records: no claim there is hand-written or stale."""
    text = (REPO / "results/demo/README.md").read_text()
    block = text[text.index(CLAIMS_BEGIN):text.index(CLAIMS_END) + len(CLAIMS_END)]
    records, _ = load_record_dirs([REPO / c for c in COMMITTED])
    assert block == claims_block(build_cells(records)), "run: python tools/demo.py --claims results/demo/README.md"
