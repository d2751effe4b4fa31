"""tools/sweep.py end to end with submitit's local executor: a tiny sweep killed halfway and restarted (nothing
that finished runs again), its plan, and its ablation table (tools/make_tables.py)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, run_tool, tool_env

TINY = f'''
name = "tiny"
pretrain_config = "{REPO}/configs/demo/mae.py"
pretrain = dict(epochs=1, max_iters_per_epoch=2, batch_size=8, vis_every=0, warmup_epochs=1)
axes = dict(mask_ratio=[0.75, 0.5])
protocols = dict(knn=dict(task="knn", config="{REPO}/configs/demo/knn.py", device="cpu"))
seeds = [0]
data = dict(synthetic=dict(num=24, size=32, pool=24, seed=0))
threads_per_job = 1
max_parallel = 1
'''


def _mtimes(folder: Path) -> dict:
    return {p.relative_to(folder): p.stat().st_mtime_ns for p in folder.rglob("*")
            if p.is_file() and (p.suffix in (".pth", ".json") and "submitit" not in p.parts)}


@pytest.mark.slow
def test_tiny_sweep_killed_and_restarted_reruns_nothing_finished(tmp_path):
    config, out = tmp_path / "tiny.py", tmp_path / "sweep"
    config.write_text(TINY)
    cmd = [sys.executable, str(REPO / "tools" / "sweep.py"), "--config", str(config), "--out", str(out),
           "--cluster", "local"]
    env = tool_env(OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.time() + 300
    while not list((out / "runs").glob("*.json")):  # the first transfer record: both pretrainings are done
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read() if proc.poll() is not None else ""
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its local jobs, as Ctrl-C on the group would
    proc.wait()
    before = _mtimes(out)
    assert len([p for p in before if p.parts[0] == "runs"]) == 1
    assert {p.parts[1] for p in before if p.parts[0] == "pretrain" and p.name == "checkpoint-last.pth"} == \
        {"default", "mask_ratio-0.5"}

    plan = run_tool("sweep.py", "--config", config, "--out", out, "--dry-run", check=True).stdout
    assert plan.count(" done ") == 3 and plan.count("to run") == 1, plan  # 2 pretrainings + 1 transfer done

    again = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "3 finished job(s) skipped, 1 to run" in again.stdout + again.stderr
    after = _mtimes(out)
    assert all(after[p] == t for p, t in before.items()), "a finished job ran again"
    records = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json")]
    assert sorted(r["sweep_job"] for r in records) == ["default:knn:s0", "mask_ratio-0.5:knn:s0"]
    default = next(r for r in records if r["sweep_variant"] == "default")
    assert default["sweep"] == "tiny" and default["sweep_points"] == [["mask_ratio", "0.75"]]
    variant = default["pretrain_variant"]
    assert variant["mask_ratio"] == 0.75 and variant["mask_sampling"] == "random"
    other = next(r for r in records if r["sweep_variant"] != "default")
    assert (other["sweep_axis"], other["sweep_value"]) == ("mask_ratio", "0.5")

    tables = tmp_path / "tables"
    run_tool("make_tables.py", "--runs", out / "runs", "--out", tables, "--no-plots", check=True)
    table = (tables / "ablations_tiny.md").read_text()
    assert "mask_ratio" in table and "0.75 (default)" in table and "0.5" in table
    assert "<h2>Ablations" in (tables / "report.html").read_text()


def test_table1_plan_lists_every_point_once_with_the_default_shared():
    proc = run_tool("sweep.py", "--config", "configs/sweeps/mae_table1.py", "--out", "/nonexistent/sweep", "--dry-run",
                    check=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("pretrain ")]
    assert len(lines) == 29  # 5+5+2+4+4+4+10 points, 7 of them the shared default, and the Figure 7 run
    default = next(line for line in lines if line.split()[1] == "default")
    for point in ("decoder_depth=8", "decoder_embed_dim=512", "mask_token=encoder w/o [M]", "target=pixel (w/o norm)",
                  "aug=crop, rand size", "mask_sampling=random 75", "mask_ratio=0.75"):
        assert point in default
    assert "refused" in next(line for line in lines if "target-dvae" in line)
    assert "checkpoint-100.pth" in proc.stdout and "checkpoint-1600.pth" in proc.stdout
    assert "total:" in proc.stdout and "GPU-hours" in proc.stdout


def _record(axis_points, variant, task, seed, top1):
    return dict(sweep="s", sweep_points=axis_points, sweep_variant=variant, task=task, seed=seed,
                metrics=dict(top1=top1))


def test_ablation_table_marks_the_default_and_tests_each_value_against_it(tmp_path):
    from mae_bench.ablations import ablation_cells, axis_tables, read_ablation_reference
    default = [["mask_sampling", "random 75"], ["mask_ratio", "0.75"]]
    recs = [_record(default, "default", "finetune", s, v) for s, v in enumerate((40.0, 41.0, 40.5))]
    recs += [_record([["mask_sampling", "grid 75"]], "g", "finetune", s, v) for s, v in enumerate((30.0, 31.0, 30.2))]
    recs += [_record([["mask_sampling", "block 75"]], "b", "finetune", s, v) for s, v in enumerate((39.0, 42.0, 40.0))]
    recs += [_record([["mask_ratio", "0.5"]], "m", "finetune", 0, 38.0)]
    cells = ablation_cells(recs)
    grid = cells[(cells["value"] == "grid 75")].iloc[0]
    assert grid["verdict"] == "beyond" and grid["delta"] == pytest.approx(30.4 - 40.5)
    assert cells[cells["value"] == "block 75"].iloc[0]["verdict"] == "within"
    assert cells[cells["value"] == "0.5"].iloc[0]["verdict"] == "untested"  # one seed
    tables = {t["axis"]: t for t in axis_tables(cells, read_ablation_reference(REPO / "results" / "reference"))}
    rows = tables["mask_sampling"]["rows"]
    assert [r[0] for r in rows] == ["random 75 (default)", "block 75", "grid 75"]  # the paper's order
    assert rows[2][1].endswith("(-10.1†)") and rows[2][2:] == ["84.0", "66.0"]  # ours, then the paper's ft / lin
    assert [r[0] for r in tables["mask_ratio"]["rows"]] == ["0.5", "0.75 (default)"]
    from mae_bench.ablations import claim_rows
    claims = {(r[0], r[1]): r for r in claim_rows(cells, read_ablation_reference(REPO / "results" / "reference"), "s")}
    assert claims[("mask_sampling", "grid 75")][-1].startswith("reproduced")  # ours -10.1†, the paper's -0.9
    assert claims[("mask_sampling", "grid 75")][5] == "-0.9"
    assert claims[("mask_sampling", "block 75")][-1].startswith("not shown")
    assert claims[("mask_ratio", "0.5")][-1].startswith("untested")


def test_a_failed_job_is_reported_by_its_error_line_not_the_log_path():
    from mae_bench.sweep import error_line
    report = ("Job (task=0) failed during processing with trace:\n----------------------\nTraceback (most recent call "
              "last):\n  File \"x.py\", line 1, in run\nmae_bench.errors.CheckpointError: checkpoint does not fit\n"
              "----------------------\nYou can check full logs with 'job.stderr(0)' and 'job.stdout(0)'or at paths:\n"
              "  - /tmp/s/1_0_log.err\n  - /tmp/s/1_0_log.out")
    assert error_line(RuntimeError(report)) == "mae_bench.errors.CheckpointError: checkpoint does not fit"
